export declare const resolveSource: {
    resolve: {
        conditions: string[];
    };
    ssr: {
        resolve: {
            conditions: string[];
        };
    };
};
//# sourceMappingURL=vitest.shared.d.ts.map
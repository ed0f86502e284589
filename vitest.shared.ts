// Workspace packages export their TypeScript source under the "@parley/source" condition (their default export is
// the build in dist/): tests resolve the source, so they run without a build step. tsconfig's customConditions
// does the same for tsc.
const source = "@parley/source"

export const resolveSource = {
  resolve: { conditions: [source, "module", "browser", "development|production"] },
  ssr: { resolve: { conditions: [source, "module", "node", "development|production"] } }
}

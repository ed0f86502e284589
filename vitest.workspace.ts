// The design names this file: it lists the workspace's test projects. vitest 3.2 reads `test.projects` from
// vitest.config.ts without a deprecation warning, so that config imports this list.
export default ["packages/*", "examples", "bench"]

import { defineConfig } from "vitest/config";

// Workspace packages resolve to their `src` through the `@normandy/source` export condition, so tests
// run without a build. The node environment uses vite's SSR resolver, hence `ssr.resolve.conditions`.
export default defineConfig({
  resolve: { conditions: ["@normandy/source"] },
  ssr: { resolve: { conditions: ["@normandy/source"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 20_000,
    coverage: {
      provider: "v8",
      include: ["packages/*/src/**/*.ts"],
      exclude: ["packages/*/src/index.ts"],
      reporter: ["text-summary", "json-summary"],
      // our bar: >= 90% of lines and branches in every package that has code
      thresholds: {
        "packages/runtime/src/**": { lines: 90, branches: 90 },
        "packages/agents/src/**": { lines: 90, branches: 90 },
        "packages/testing/src/**": { lines: 90, branches: 90 },
        "packages/coordination/src/**": { lines: 90, branches: 90 },
        "packages/observability/src/**": { lines: 90, branches: 90 },
      },
    },
  },
});

// The example's tests: Convex functions under convex-test, in an Edge-like runtime as Convex's
// default runtime is, against the local tenant-keys stack the Rust e2e harness starts.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "edge-runtime",
    include: ["test/**/*.test.ts"],
    server: { deps: { inline: ["convex-test"] } },
    testTimeout: 30_000,
  },
});

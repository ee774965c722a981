import { defineConfig } from "vitest/config";
import { ngemVitestConfig } from "../../vitest.shared.ts";

export default defineConfig(ngemVitestConfig(import.meta.dirname, { testTimeout: 120_000 }));

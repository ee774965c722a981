import { defineConfig } from "tsup";
import { ngemTsup } from "../../tsup.base.ts";

export default defineConfig(ngemTsup({ entry: { index: "src/index.ts" } }));

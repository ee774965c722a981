/** The shared parity suite of @ngem/core on `tfjs-cpu` (float32 default tolerances). */
import { describe, it } from "vitest";
import { getBackend } from "@ngem/core";
import { runParitySuite } from "@ngem/core/testing";
import "@ngem/backend-tfjs";

runParitySuite({ describe, it }, () => getBackend("tfjs-cpu"), { label: "tfjs-cpu" });

/**
 * `@ngem/trainer/node`: the Node-only file helpers (atomic writes whose errors
 * name the real target, stale temp-file cleanup, process liveness). The main
 * entry `@ngem/trainer` stays browser-safe.
 */
export { FileWriteError, writeError, writeFileAtomic, writeFileAtomicSync, appendTextFile, removeStaleTemps, pidAlive, hostName, nodeIO } from "./node-io.js";

/**
 * The slice of the WebAssembly JS API this package uses, for this package's own
 * compile only: TypeScript ships these types with the DOM lib, which the
 * workspace does not enable. Not part of the emitted declarations; consumers
 * of the few public types naming WebAssembly.Memory get them from their own
 * lib (DOM or equivalent) or skip them with skipLibCheck (the workspace default).
 */
declare namespace WebAssembly {
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }
  interface Memory {
    readonly buffer: ArrayBuffer;
    grow(delta: number): number;
  }
  var Memory: {
    prototype: Memory;
    new (descriptor: MemoryDescriptor): Memory;
  };
  interface Module {}
  var Module: {
    prototype: Module;
    new (bytes: BufferSource): Module;
  };
  interface Instance {
    readonly exports: Record<string, unknown>;
  }
  var Instance: {
    prototype: Instance;
    new (module: Module, importObject?: Record<string, unknown>): Instance;
  };
  function compile(bytes: BufferSource): Promise<Module>;
  function instantiate(module: Module, importObject?: Record<string, unknown>): Promise<Instance>;
  function validate(bytes: BufferSource): boolean;
}
type BufferSource = ArrayBufferView | ArrayBuffer;

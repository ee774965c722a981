/**
 * The ONNX protobuf schema (official onnx.proto, through protobufjs) and a
 * small graph builder on top of it: float32/int64 initializers, nodes with
 * attributes, typed inputs/outputs with a symbolic batch dimension.
 *
 * protobufjs/light rebuilds the message types from the committed JSON
 * descriptor (src/onnx-descriptor.ts, generated from proto/onnx.proto), so
 * nothing here parses .proto text or touches the file system.
 */
import protobuf from "protobufjs/light.js";
import { ONNX_DESCRIPTOR } from "./onnx-descriptor.js";

let root: protobuf.Root | undefined;

/** A message type of the `onnx` package (`ModelProto`, `TensorProto`, ...). */
export function onnxType(name: string): protobuf.Type {
  root ??= protobuf.Root.fromJSON(ONNX_DESCRIPTOR as protobuf.INamespace);
  return root.lookupType(`onnx.${name}`);
}

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7, BOOL: 9 } as const;
/** AttributeProto.AttributeType values used here. */
const AttrType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

export type AttrValue = number | string | readonly number[] | { readonly float: number };

/** A dimension: a fixed size or a symbolic name (e.g. "batch"). */
export type Dim = number | string;

interface NodeJson {
  op_type: string;
  name: string;
  input: string[];
  output: string[];
  attribute: Record<string, unknown>[];
  domain?: string;
  doc_string?: string;
}

function attribute(name: string, v: AttrValue): Record<string, unknown> {
  if (typeof v === "string") return { name, type: AttrType.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer (wrap floats as { float })`);
    return { name, type: AttrType.INT, i: v };
  }
  if (Array.isArray(v)) return { name, type: AttrType.INTS, ints: [...v] };
  return { name, type: AttrType.FLOAT, f: (v as { float: number }).float };
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[], doc?: string): Record<string, unknown> {
  return {
    name,
    ...(doc ? { doc_string: doc } : {}),
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

/** Builds one ONNX graph: initializers, nodes in topological order, inputs and outputs. */
export class GraphBuilder {
  private readonly nodes: NodeJson[] = [];
  private readonly initializers: Record<string, unknown>[] = [];
  private readonly inputs: Record<string, unknown>[] = [];
  private readonly outputs: Record<string, unknown>[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  /** A fresh value name starting with `base`. */
  fresh(base: string): string {
    let name = base;
    while (this.names.has(name)) name = `${base}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  /** A float32 constant (stored little-endian in raw_data). */
  f32(name: string, dims: readonly number[], values: ArrayLike<number>): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (values.length !== size) throw new Error(`initializer ${name}: ${values.length} values for shape [${dims.join(", ")}]`);
    const data = Float32Array.from(values);
    const n = this.fresh(name);
    this.initializers.push({ name: n, dims: [...dims], data_type: DataType.FLOAT, raw_data: littleEndianBytes(data) });
    return n;
  }

  /** An int64 constant (shapes, indices). */
  i64(name: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    const n = this.fresh(name);
    this.initializers.push({ name: n, dims: [...dims], data_type: DataType.INT64, raw_data: littleEndianBytes(data) });
    return n;
  }

  /** Adds a node; returns its output names (`outputs` are fresh names made from the given bases). */
  node(op: string, inputs: readonly string[], outputs: readonly string[], attrs: Record<string, AttrValue> = {}): string[] {
    const out = outputs.map((o) => this.fresh(o));
    this.nodes.push({
      op_type: op,
      name: `${op}_${this.nodes.length}`,
      input: [...inputs],
      output: out,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** Adds a one-output node and returns its output name. */
  op(op: string, inputs: readonly string[], output: string, attrs: Record<string, AttrValue> = {}): string {
    return this.node(op, inputs, [output], attrs)[0] as string;
  }

  /** Declares a graph input. */
  input(name: string, dims: readonly Dim[], doc?: string): string {
    const n = this.fresh(name);
    if (n !== name) throw new Error(`graph input ${name}: name already used`);
    this.inputs.push(valueInfo(n, DataType.FLOAT, dims, doc));
    return n;
  }

  /** Declares `value` a graph output named `name` (through an Identity node when the names differ). */
  output(value: string, name: string, dims: readonly Dim[], doc?: string): void {
    if (value !== name) {
      if (this.names.has(name)) throw new Error(`graph output ${name}: name already used`);
      this.names.add(name);
      this.nodes.push({ op_type: "Identity", name: `Identity_${name}`, input: [value], output: [name], attribute: [] });
    }
    this.outputs.push(valueInfo(name, DataType.FLOAT, dims, doc));
  }

  /** The GraphProto as a plain object (for `ModelProto.fromObject`). */
  graph(name: string, doc?: string): Record<string, unknown> {
    return {
      name,
      ...(doc ? { doc_string: doc } : {}),
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
    };
  }
}

function littleEndianBytes(a: Float32Array | BigInt64Array): Uint8Array {
  const out = new Uint8Array(a.byteLength);
  const view = new DataView(out.buffer);
  if (a instanceof Float32Array) for (let i = 0; i < a.length; i++) view.setFloat32(i * 4, a[i] as number, true);
  else for (let i = 0; i < a.length; i++) view.setBigInt64(i * 8, a[i] as bigint, true);
  return out;
}

/** Encodes a ModelProto given as a plain object (verified against the schema first). */
export function encodeModel(model: Record<string, unknown>): Uint8Array {
  const T = onnxType("ModelProto");
  const msg = T.fromObject(model);
  const err = T.verify(msg);
  if (err) throw new Error(`ONNX ModelProto: ${err}`);
  return T.encode(msg).finish();
}

/** Decodes ONNX model bytes into a plain object (field names as in onnx.proto; bytes fields as Uint8Array, int64 as numbers). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const T = onnxType("ModelProto");
  return T.toObject(T.decode(bytes), { longs: Number, defaults: false }) as Record<string, unknown>;
}

// Arrays sent from Python (saewidgets/widgets/codecs.py): {dtype, shape, data}, where data arrives as a
// DataView over little-endian bytes. This is the only place the byte layout is read.

export type DType = "float16" | "float32" | "int32" | "uint8";

export interface Payload {
  dtype: DType;
  shape: number[];
  data: DataView;
}

export type TypedArray = Float32Array | Int32Array | Uint8Array;

export interface NDArray<A extends TypedArray = TypedArray> {
  shape: number[];
  data: A;
}

const BYTES: Record<DType, number> = { float16: 2, float32: 4, int32: 4, uint8: 1 };

/** IEEE 754 half precision → number (DataView.getFloat16 is too new to rely on). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Decode a payload; float16 widens to Float32Array so callers handle three array types only. */
export function decode(payload: Payload): NDArray {
  const { dtype, shape, data } = payload;
  const n = size(shape);
  if (!(dtype in BYTES)) throw new Error(`unknown dtype ${dtype}`);
  if (data.byteLength !== n * BYTES[dtype]) {
    throw new Error(`${dtype} array of shape [${shape}] needs ${n * BYTES[dtype]} bytes, got ${data.byteLength}`);
  }
  switch (dtype) {
    case "uint8":
      return { shape, data: new Uint8Array(data.buffer, data.byteOffset, n).slice() };
    case "int32": {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = data.getInt32(4 * i, true);
      return { shape, data: out };
    }
    case "float32": {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = data.getFloat32(4 * i, true);
      return { shape, data: out };
    }
    case "float16": {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(data.getUint16(2 * i, true));
      return { shape, data: out };
    }
  }
}

export function decodeFloat(payload: Payload): NDArray<Float32Array> {
  const array = decode(payload);
  if (!(array.data instanceof Float32Array)) throw new Error(`expected floats, got ${payload.dtype}`);
  return array as NDArray<Float32Array>;
}

export function decodeInt(payload: Payload): NDArray<Int32Array> {
  const array = decode(payload);
  if (!(array.data instanceof Int32Array)) throw new Error(`expected int32, got ${payload.dtype}`);
  return array as NDArray<Int32Array>;
}

export function decodeBytes(payload: Payload): NDArray<Uint8Array> {
  const array = decode(payload);
  if (!(array.data instanceof Uint8Array)) throw new Error(`expected uint8, got ${payload.dtype}`);
  return array as NDArray<Uint8Array>;
}

// Test doubles shared by the view tests: an in-memory anywidget model and the Python codec's encoder.
import type { AnyModel } from "@anywidget/types";
import type { DType, Payload } from "../src/codecs";

type Handler = (...args: unknown[]) => void;

/** Enough of anywidget's model for a view: get/set/on/off/save_changes, with a log of what was saved. */
export class FakeModel<T extends Record<string, any>> {
  saved: Partial<T>[] = [];
  private pending: Partial<T> = {};
  private handlers = new Map<string, Set<Handler>>();

  constructor(private state: T) {}

  get<K extends keyof T>(key: K): T[K] {
    return this.state[key];
  }

  set<K extends keyof T>(key: K, value: T[K]): void {
    this.state[key] = value;
    this.pending[key] = value;
    this.emit(`change:${String(key)}`);
  }

  save_changes(): void {
    this.saved.push(this.pending);
    this.pending = {};
  }

  /** What Python does: change traits and notify the view. */
  update(changes: Partial<T>): void {
    Object.assign(this.state, changes);
    for (const key of Object.keys(changes)) this.emit(`change:${key}`);
  }

  on(name: string, handler: Handler): void {
    if (!this.handlers.has(name)) this.handlers.set(name, new Set());
    this.handlers.get(name)!.add(handler);
  }

  off(name?: string | null, handler?: Handler | null): void {
    if (!name) return this.handlers.clear();
    if (!handler) return void this.handlers.delete(name);
    this.handlers.get(name)?.delete(handler);
  }

  listenerCount(): number {
    return [...this.handlers.values()].reduce((n, s) => n + s.size, 0);
  }

  send(): void {}

  /** What Python's ``widget.send(msg)`` does: a custom message to the view. */
  custom(msg: unknown): void {
    for (const handler of this.handlers.get("msg:custom") ?? []) handler(msg);
  }

  widget_manager = { get_model: () => Promise.reject(new Error("not in tests")) };

  private emit(name: string): void {
    for (const handler of this.handlers.get(name) ?? []) handler();
  }

  asModel(): AnyModel<T> {
    return this as unknown as AnyModel<T>;
  }
}

function floatToHalf(value: number): number {
  // enough for test values: normal numbers, zero and infinity
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >> 16) & 0x8000;
  const exponent = ((bits >> 23) & 0xff) - 127 + 15;
  const mantissa = (bits >> 13) & 0x3ff;
  if (value === 0) return sign;
  if (exponent >= 0x1f) return sign | 0x7c00;
  if (exponent <= 0) return sign;
  return sign | (exponent << 10) | mantissa;
}

/** The payload saewidgets/widgets/codecs.py would send for these numbers. */
export function payload(dtype: DType, shape: number[], values: ArrayLike<number>): Payload {
  const size = { float16: 2, float32: 4, int32: 4, uint8: 1 }[dtype];
  const view = new DataView(new ArrayBuffer(values.length * size));
  Array.from(values).forEach((v, i) => {
    if (dtype === "float16") view.setUint16(2 * i, floatToHalf(v), true);
    if (dtype === "float32") view.setFloat32(4 * i, v, true);
    if (dtype === "int32") view.setInt32(4 * i, v, true);
    if (dtype === "uint8") view.setUint8(i, v);
  });
  return { dtype, shape, data: view };
}

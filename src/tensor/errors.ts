/** Typed errors of the tensor engine; messages say what was wrong and what to do. */
export class TensorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
export class ShapeError extends TensorError {}
export class DTypeError extends TensorError {}
export class DisposedTensorError extends TensorError {}
export class GradError extends TensorError {}

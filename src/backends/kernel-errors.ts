/**
 * Errors the native kernels throw (the addon constructs them through setErrorClasses). A kernel that
 * cannot get memory stops early and reports here instead of aborting the process: native/src/internal.h
 * states the one failure policy every kernel follows.
 */
export class KernelMemoryError extends Error {
  constructor(
    message: string,
    /** the kernel's binding name, e.g. `attentionBwd` */
    readonly kernel: string,
    /** the allocation that failed */
    readonly bytes: number,
  ) {
    super(message);
    this.name = 'KernelMemoryError';
  }
}

/**
 * What the engine expects from Node that a Worker lacks: setImmediate (the engine yields to the event
 * loop between tokens with it, which is also when a 'cancel' message gets in). A message task, not a
 * timer: timers are clamped to 4 ms when nested, which would cap decoding at 250 tokens/s.
 */
const g = globalThis as unknown as { setImmediate?: (fn: () => void) => void };
if (!g.setImmediate) {
  const queue: (() => void)[] = [];
  const channel = new MessageChannel();
  channel.port1.onmessage = () => queue.shift()?.();
  g.setImmediate = (fn) => {
    queue.push(fn);
    channel.port2.postMessage(0);
  };
}
export {};

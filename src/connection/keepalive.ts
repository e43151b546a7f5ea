/** Settings of the heartbeat: ping every `interval` ms; a peer silent for `timeout` ms after a ping is dead. */
export interface KeepAliveOptions {
  interval: number;
  timeout: number;
}

/**
 * Finds dead peers: a peer that vanished without a FIN (a pulled cable, a crashed NAT) never makes
 * the socket fail on its own, so we ping it and give up when no pong comes back in time.
 */
export class Heartbeat {
  private readonly options: KeepAliveOptions;
  private readonly sendPing: () => void;
  private readonly onDead: () => void;
  private intervalTimer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;

  constructor(options: KeepAliveOptions, sendPing: () => void, onDead: () => void) {
    if (!(options.interval > 0) || !(options.timeout > 0)) {
      throw new RangeError('keepAlive interval and timeout must be positive numbers of milliseconds');
    }
    this.options = options;
    this.sendPing = sendPing;
    this.onDead = onDead;
  }

  start(): void {
    if (this.intervalTimer !== null) return;
    this.intervalTimer = setInterval(this.beat, this.options.interval);
    this.intervalTimer.unref();
  }

  /** The peer answered (a pong, or any traffic that proves it is alive). */
  alive(): void {
    if (this.deadlineTimer !== null) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = null;
    }
  }

  stop(): void {
    if (this.intervalTimer !== null) clearInterval(this.intervalTimer);
    this.intervalTimer = null;
    this.alive();
  }

  private readonly beat = (): void => {
    // A ping is already waiting for its answer: its deadline decides.
    if (this.deadlineTimer !== null) return;
    this.deadlineTimer = setTimeout(this.expire, this.options.timeout);
    this.deadlineTimer.unref();
    this.sendPing();
  };

  private readonly expire = (): void => {
    this.deadlineTimer = null;
    this.stop();
    this.onDead();
  };
}

/** Settings of the heartbeat: ping every `interval` ms; a peer silent for `timeout` ms after a ping is dead. */
export interface KeepAliveOptions {
  interval: number;
  timeout: number;
}

/** What a {@link Heartbeat} asks of its connection. */
export interface HeartbeatHost {
  /** Send a ping now. */
  sendHeartbeatPing(): void;
  /** No pong came in time: the peer is gone. */
  heartbeatExpired(): void;
}

/**
 * Finds dead peers: a peer that vanished without a FIN (a pulled cable, a crashed NAT) never makes
 * the socket fail on its own, so we ping it and give up when no pong comes back in time. The timers call
 * shared functions with the heartbeat as their argument: no closure per connection.
 */
export class Heartbeat {
  private readonly options: KeepAliveOptions;
  private readonly host: HeartbeatHost;
  private intervalTimer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;

  constructor(options: KeepAliveOptions, host: HeartbeatHost) {
    if (!(options.interval > 0) || !(options.timeout > 0)) {
      throw new RangeError('keepAlive interval and timeout must be positive numbers of milliseconds');
    }
    this.options = options;
    this.host = host;
  }

  start(): void {
    if (this.intervalTimer !== null) return;
    this.intervalTimer = setInterval(beat, this.options.interval, this);
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

  /** @internal The interval fired. */
  beat(): void {
    // A ping is already waiting for its answer: its deadline decides.
    if (this.deadlineTimer !== null) return;
    this.deadlineTimer = setTimeout(expire, this.options.timeout, this);
    this.deadlineTimer.unref();
    this.host.sendHeartbeatPing();
  }

  /** @internal The deadline passed without an answer. */
  expire(): void {
    this.deadlineTimer = null;
    this.stop();
    this.host.heartbeatExpired();
  }
}

function beat(heartbeat: Heartbeat): void {
  heartbeat.beat();
}

function expire(heartbeat: Heartbeat): void {
  heartbeat.expire();
}

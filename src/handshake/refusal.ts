/** @internal An HTTP refusal decided while validating a handshake: status, message, and extra headers for the answer. */
export class Refusal {
  constructor(
    readonly status: number,
    readonly message: string,
    readonly headers: Record<string, string> = {},
  ) {}
}

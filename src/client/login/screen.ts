/**
 * What `agw login` shows while it waits: the verification URL and user code, a QR code and a
 * spinner on a terminal, and one plain line per state change otherwise (CI logs, pipes).
 */
import qrcode from 'qrcode-terminal'

export interface Output {
  write(text: string): unknown
  isTTY?: boolean
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

export interface DeviceCodeDisplay {
  verificationUri: string
  verificationUriComplete?: string
  userCode: string
  expiresIn: number
}

export class LoginScreen {
  readonly #out: Output
  readonly #tty: boolean
  readonly #qr: boolean
  #timer: NodeJS.Timeout | undefined
  #frame = 0
  #status = ''
  #said = new Set<string>()

  constructor(out: Output, opts: { qr: boolean }) {
    this.#out = out
    this.#tty = out.isTTY === true
    this.#qr = opts.qr && this.#tty
  }

  line(text: string): void {
    this.clearSpinner()
    this.#out.write(`${text}\n`)
    this.drawSpinner()
  }

  showCode(d: DeviceCodeDisplay): void {
    const minutes = Math.max(1, Math.round(d.expiresIn / 60))
    this.line(`To sign in, open ${d.verificationUri} and enter the code ${d.userCode}`)
    if (d.verificationUriComplete) this.line(`(or open ${d.verificationUriComplete}, which has the code in it)`)
    if (this.#qr) {
      qrcode.generate(d.verificationUriComplete ?? d.verificationUri, { small: true }, (art) => this.line(art.replace(/\n+$/, '')))
    }
    this.line(`The code expires in ${minutes} minute${minutes === 1 ? '' : 's'}. Ctrl-C cancels.`)
  }

  /** authorization_pending: the user has not approved yet. Said once; a spinner on a terminal. */
  pending(): void {
    this.status('waiting for you to approve the sign-in in the browser')
  }

  /** slow_down: the provider asked for a longer interval. */
  slowDown(): void {
    this.once('slow_down', 'the identity provider asked agw to poll less often; still waiting')
  }

  private once(key: string, text: string): void {
    if (this.#said.has(key)) return
    this.#said.add(key)
    if (this.#tty) this.status(text)
    else this.line(text)
  }

  private status(text: string): void {
    if (!this.#tty) {
      this.once(`status:${text}`, `${text}...`)
      return
    }
    this.#status = text
    if (!this.#timer) {
      this.#timer = setInterval(() => {
        this.#frame = (this.#frame + 1) % FRAMES.length
        this.clearSpinner()
        this.drawSpinner()
      }, 100)
      this.#timer.unref()
    }
    this.clearSpinner()
    this.drawSpinner()
  }

  private drawSpinner(): void {
    if (this.#tty && this.#timer) this.#out.write(`${FRAMES[this.#frame]} ${this.#status}`)
  }

  private clearSpinner(): void {
    if (this.#tty && this.#timer) this.#out.write('\r\x1b[2K')
  }

  /** Stops the spinner and leaves the cursor on a clean line. */
  stop(): void {
    if (!this.#timer) return
    this.clearSpinner()
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}

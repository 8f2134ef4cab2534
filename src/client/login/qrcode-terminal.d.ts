/** The part of qrcode-terminal 0.12 that `agw login` uses (the package ships no types). */
declare module 'qrcode-terminal' {
  interface QrCodeTerminal {
    generate(input: string, opts: { small?: boolean }, callback: (output: string) => void): void
  }
  const qrcode: QrCodeTerminal
  export default qrcode
}

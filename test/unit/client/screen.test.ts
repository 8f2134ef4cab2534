/** What `agw login` shows while it waits, on a terminal and in a log. */
import { describe, expect, it } from 'vitest'
import { LoginScreen } from '../../../src/client/login/screen.js'

function capture(isTTY: boolean) {
  const chunks: string[] = []
  return { out: { isTTY, write: (t: string) => chunks.push(t) }, text: () => chunks.join('') }
}

const CODE = { verificationUri: 'https://idp.example.com/device', verificationUriComplete: 'https://idp.example.com/device?user_code=ABCD-EFGH', userCode: 'ABCD-EFGH', expiresIn: 600 }

describe('LoginScreen', () => {
  it('in a log: the URL and code, then one plain line per state, no QR code, no control characters', () => {
    const c = capture(false)
    const screen = new LoginScreen(c.out, { qr: true })
    screen.showCode(CODE)
    screen.pending()
    screen.pending()
    screen.slowDown()
    screen.slowDown()
    screen.stop()
    expect(c.text()).toBe(
      'To sign in, open https://idp.example.com/device and enter the code ABCD-EFGH\n' +
        '(or open https://idp.example.com/device?user_code=ABCD-EFGH, which has the code in it)\n' +
        'The code expires in 10 minutes. Ctrl-C cancels.\n' +
        'waiting for you to approve the sign-in in the browser...\n' +
        'the identity provider asked agw to poll less often; still waiting\n',
    )
  })

  it('on a terminal: a QR code of the complete URL and a spinner that is cleared when done', () => {
    const c = capture(true)
    const screen = new LoginScreen(c.out, { qr: true })
    screen.showCode(CODE)
    screen.pending()
    screen.stop()
    const text = c.text()
    expect(text).toMatch(/[█▀▄]/)
    expect(text).toContain('⠋ waiting for you to approve the sign-in in the browser')
    expect(text.endsWith('\r\x1b[2K')).toBe(true)
  })

  it('--no-qr: no QR code on a terminal either', () => {
    const c = capture(true)
    new LoginScreen(c.out, { qr: false }).showCode(CODE)
    expect(c.text()).not.toMatch(/[█▀▄]/)
  })
})

/**
 * Joins a local TCP socket and a tunnel channel, both ways, with flow control: a slow reader on one
 * side pauses the other side instead of buffering. A half-close travels as an `eof` control message.
 */
import type { Socket } from 'node:net'
import type { ServerControl } from '../../tunnel/protocol.js'
import type { GatewayChannel } from '../gateway-client.js'

export function pipeSocket(socket: Socket, channel: GatewayChannel, onControl?: (msg: ServerControl) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false
    const finish = () => {
      if (done) return
      done = true
      socket.destroySoon()
      channel.close()
      resolve()
    }
    socket.on('data', (chunk: Buffer) => {
      if (!channel.write(chunk)) socket.pause()
    })
    channel.on('drain', () => socket.resume())
    channel.on('data', (chunk) => {
      if (!socket.write(chunk)) channel.pause()
    })
    socket.on('drain', () => channel.resume())
    socket.on('end', () => channel.control({ t: 'eof' }))
    socket.on('close', finish)
    socket.on('error', finish)
    channel.on('control', (msg) => {
      if (msg.t === 'eof') socket.end()
      onControl?.(msg)
    })
    channel.on('close', () => {
      // Let what was written reach the client before closing.
      if (socket.writableLength > 0) socket.end()
      finish()
    })
    if (socket.isPaused()) socket.resume()
  })
}

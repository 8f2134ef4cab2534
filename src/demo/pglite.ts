/**
 * The demo's target: an embedded PostgreSQL (PGlite, PostgreSQL compiled to WASM) served over the
 * real wire protocol by @electric-sql/pglite-socket on 127.0.0.1, seeded with a customers table that
 * holds names, emails and card numbers (test card numbers, made-up people).
 */
import { createServer } from 'node:net'

export const DEMO_SEED = `
create table customers (
  id serial primary key,
  name text not null,
  email text not null,
  card_number text not null,
  plan text not null,
  created_at date not null
);
insert into customers (name, email, card_number, plan, created_at) values
  ('Ada Lovelace',    'ada@example.com',     '4111 1111 1111 1111', 'pro',        '2024-01-12'),
  ('Alan Turing',     'alan@example.org',    '5500 0000 0000 0004', 'team',       '2024-02-03'),
  ('Grace Hopper',    'grace@example.net',   '3400 0000 0000 009',  'enterprise', '2024-03-21'),
  ('Edsger Dijkstra', 'edsger@example.com',  '6011 0000 0000 0004', 'free',       '2024-04-30'),
  ('Barbara Liskov',  'barbara@example.org', '3000 0000 0000 04',   'pro',        '2024-05-17');
create table orders (
  id serial primary key,
  customer_id int references customers(id),
  amount_cents int not null,
  status text not null
);
insert into orders (customer_id, amount_cents, status) values (1, 4900, 'paid'), (2, 19900, 'paid'), (3, 99900, 'pending'), (1, 4900, 'refunded');
`

export interface EmbeddedPostgres {
  host: '127.0.0.1'
  port: number
  user: 'postgres'
  database: 'postgres'
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export async function startEmbeddedPostgres(seed = DEMO_SEED): Promise<EmbeddedPostgres> {
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([import('@electric-sql/pglite'), import('@electric-sql/pglite-socket')])
  const db = await PGlite.create()
  await db.exec(seed)
  const port = await freePort()
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: 16 })
  await server.start()
  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: 'postgres',
    async stop() {
      await server.stop()
      await db.close()
    },
  }
}

/**
 * Storage for the embedded demo issuer: one in-memory store per issuer instance, in the shape of
 * oidc-provider's adapter interface (upsert, find, findByUid, findByUserCode, consume, destroy,
 * revokeByGrantId). oidc-provider ships a memory adapter too, but it prints a warning on every
 * start and shares one store across instances; tests run several issuers side by side.
 */

type Payload = Record<string, unknown>

interface Entry {
  payload: Payload
  expiresAt: number // ms since the epoch; Infinity when the model has no expiry
}

export interface AdapterLike {
  upsert(id: string, payload: Payload, expiresIn?: number): Promise<void>
  find(id: string): Promise<Payload | undefined>
  findByUid(uid: string): Promise<Payload | undefined>
  findByUserCode(userCode: string): Promise<Payload | undefined>
  consume(id: string): Promise<void>
  destroy(id: string): Promise<void>
  revokeByGrantId(grantId: string): Promise<void>
}

/** Returns an adapter factory (`configuration.adapter`) backed by a private store. */
export function createMemoryStore(): (model: string) => AdapterLike {
  const entries = new Map<string, Entry>()
  const byUid = new Map<string, string>() // session uid -> key
  const byUserCode = new Map<string, string>() // device user code -> key
  const byGrant = new Map<string, Set<string>>() // grant id -> keys of tokens issued under it

  const live = (key: string | undefined): Entry | undefined => {
    if (key === undefined) return undefined
    const entry = entries.get(key)
    if (entry && entry.expiresAt <= Date.now()) {
      entries.delete(key)
      return undefined
    }
    return entry
  }

  return (model: string): AdapterLike => {
    const keyOf = (id: string): string => `${model}:${id}`
    return {
      async upsert(id, payload, expiresIn) {
        const key = keyOf(id)
        const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity
        entries.set(key, { payload, expiresAt })
        if (model === 'Session' && typeof payload['uid'] === 'string') byUid.set(payload['uid'], key)
        if (typeof payload['userCode'] === 'string') byUserCode.set(payload['userCode'], key)
        if (typeof payload['grantId'] === 'string') {
          const members = byGrant.get(payload['grantId']) ?? new Set<string>()
          members.add(key)
          byGrant.set(payload['grantId'], members)
        }
      },
      async find(id) {
        return live(keyOf(id))?.payload
      },
      async findByUid(uid) {
        return live(byUid.get(uid))?.payload
      },
      async findByUserCode(userCode) {
        return live(byUserCode.get(userCode))?.payload
      },
      async consume(id) {
        const entry = live(keyOf(id))
        if (entry) entry.payload['consumed'] = Math.floor(Date.now() / 1000)
      },
      async destroy(id) {
        entries.delete(keyOf(id))
      },
      async revokeByGrantId(grantId) {
        for (const key of byGrant.get(grantId) ?? []) entries.delete(key)
        byGrant.delete(grantId)
      },
    }
  }
}

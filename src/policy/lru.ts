/** A bounded least-recently-used map (a Map keeps insertion order: re-inserting on hit makes it LRU). */
export class Lru<K, V> {
  private readonly map = new Map<K, V>()

  constructor(private readonly capacity: number) {
    if (capacity < 1) throw new Error('an LRU needs a capacity of at least 1')
  }

  get(key: K): V | undefined {
    const v = this.map.get(key)
    if (v === undefined) return undefined
    this.map.delete(key)
    this.map.set(key, v)
    return v
  }

  set(key: K, value: V): void {
    if (this.map.has(key)) this.map.delete(key)
    else if (this.map.size >= this.capacity) {
      const oldest = this.map.keys().next()
      if (!oldest.done) this.map.delete(oldest.value)
    }
    this.map.set(key, value)
  }

  get size(): number {
    return this.map.size
  }

  clear(): void {
    this.map.clear()
  }
}

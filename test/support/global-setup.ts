/**
 * Integration tests share one real OIDC issuer (oidc-provider on 127.0.0.1). Its URL is provided to
 * the test files, which get tokens from it over HTTP with `connectTestIssuer(inject('issuerUrl'))`.
 */
import type { TestProject } from 'vitest/node'
import { startTestIssuer, type TestIssuer } from './oidc.js'

let idp: TestIssuer | undefined

export async function setup(project: TestProject): Promise<void> {
  idp = await startTestIssuer()
  project.provide('issuerUrl', idp.issuer)
}

export async function teardown(): Promise<void> {
  await idp?.close()
}

declare module 'vitest' {
  export interface ProvidedContext {
    issuerUrl: string
  }
}

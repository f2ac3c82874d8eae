import type { StoreUser } from '../store/index.js';

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';

/** A store row as a SCIM 2.0 User resource (RFC 7643 §4.1), with the local id and Entra's as externalId. */
export function toScimResource(user: StoreUser): Record<string, unknown> {
  const schemas = new Set<string>([USER_SCHEMA]);
  const declared = user.resource.schemas;
  if (Array.isArray(declared)) for (const s of declared) if (typeof s === 'string') schemas.add(s);
  const { schemas: _ignored, ...attributes } = user.resource;
  return {
    schemas: [...schemas],
    id: user.id,
    ...(user.externalId ? { externalId: user.externalId } : {}),
    ...attributes,
    userName: user.userName,
    active: user.active,
    meta: { resourceType: 'User', created: user.createdAt, lastModified: user.updatedAt },
  };
}

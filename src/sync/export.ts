import type { StoreGroup, StoreUser } from '../store/index.js';
import { GROUP_SCHEMA } from '../mapping/index.js';

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

/** A group row as a SCIM 2.0 Group resource (RFC 7643 §4.2), with its members (local user ids). */
export function toScimGroup(
  group: StoreGroup,
  members: readonly { value: string; display: string }[],
): Record<string, unknown> {
  const schemas = new Set<string>([GROUP_SCHEMA]);
  const declared = group.resource.schemas;
  if (Array.isArray(declared)) for (const s of declared) if (typeof s === 'string') schemas.add(s);
  const { schemas: _ignored, members: _members, ...attributes } = group.resource;
  return {
    schemas: [...schemas],
    id: group.id,
    ...attributes,
    ...(group.externalId ? { externalId: group.externalId } : {}),
    displayName: group.displayName,
    members,
    meta: { resourceType: 'Group', created: group.createdAt, lastModified: group.updatedAt },
  };
}

import type { GraphApi } from '../graph/api.js';
import { GraphShapeError } from '../graph/errors.js';
import type { Assignment } from './types.js';
import { isObjectId } from './validate.js';

const TYPES = new Set(['User', 'Group', 'ServicePrincipal']);

/**
 * The application's assignments, a page at a time. There is no delta for them, so every cycle
 * lists them all; a page that cannot be read fails the listing rather than shrinking it.
 */
export async function* assignmentPages(
  api: GraphApi,
  servicePrincipalId: string,
): AsyncGenerator<Assignment[]> {
  const url = `/servicePrincipals/${servicePrincipalId}/appRoleAssignedTo?$select=principalId,principalType`;
  for await (const page of api.pages<Record<string, unknown>>(url)) {
    yield page.value.map((item) => {
      if (!isObjectId(item?.principalId) || !TYPES.has(String(item.principalType))) {
        throw new GraphShapeError('an appRoleAssignment has no valid principalId or principalType');
      }
      return {
        principalId: item.principalId,
        principalType: item.principalType as Assignment['principalType'],
      };
    });
  }
}

/** The enterprise application's service principal: configured, or the one of our own client id. */
export async function resolveServicePrincipalId(
  api: GraphApi,
  configured: string | undefined,
  clientId: string,
) {
  if (configured) return configured;
  const sp = (await api.get(`/servicePrincipals(appId='${clientId}')?$select=id,appId,displayName`)) as {
    id?: unknown;
  };
  if (!isObjectId(sp.id)) throw new GraphShapeError('the service principal has no id');
  return sp.id;
}

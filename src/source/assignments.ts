import type { GraphApi } from '../graph/api.js';
import { GraphShapeError } from '../graph/errors.js';
import type { AppRole, Assignment } from './types.js';
import { isObjectId } from './validate.js';

const TYPES = new Set(['User', 'Group', 'ServicePrincipal']);
const DEFAULT_ACCESS = '00000000-0000-0000-0000-000000000000';

/**
 * The application's assignments, a page at a time. There is no delta for them, so every cycle
 * lists them all; a page that cannot be read fails the listing rather than shrinking it.
 */
export async function* assignmentPages(
  api: GraphApi,
  servicePrincipalId: string,
): AsyncGenerator<Assignment[]> {
  // $top=999 is the most Graph hands out per page (the default is 100): the listing is read in full
  // every cycle, so this is 10× fewer requests for it.
  const url = `/servicePrincipals/${servicePrincipalId}/appRoleAssignedTo?$select=principalId,principalType,appRoleId&$top=999`;
  for await (const page of api.pages<Record<string, unknown>>(url)) {
    yield page.value.map((item) => {
      if (!isObjectId(item?.principalId) || !TYPES.has(String(item.principalType))) {
        throw new GraphShapeError('an appRoleAssignment has no valid principalId or principalType');
      }
      const appRoleId = item.appRoleId ?? DEFAULT_ACCESS;
      if (!isObjectId(appRoleId)) throw new GraphShapeError('an appRoleAssignment has no valid appRoleId');
      return {
        principalId: item.principalId,
        principalType: item.principalType as Assignment['principalType'],
        appRoleId,
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

/** The application's app roles, so role assignments can be read as values and display names. */
export async function readAppRoles(api: GraphApi, servicePrincipalId: string): Promise<AppRole[]> {
  const sp = (await api.get(`/servicePrincipals/${servicePrincipalId}?$select=id,appRoles`)) as {
    appRoles?: unknown;
  };
  if (!Array.isArray(sp.appRoles)) return [];
  return sp.appRoles
    .filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null && isObjectId(r.id))
    .map((r) => ({
      id: r.id as string,
      value: typeof r.value === 'string' ? r.value : null,
      displayName: typeof r.displayName === 'string' ? r.displayName : null,
    }));
}

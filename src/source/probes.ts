import type { GraphApi } from '../graph/api.js';

/**
 * The connection test's reads: one cheap request per permission a cycle needs, each failing with
 * the Graph error that names what is missing.
 */

export async function probeOrganization(api: GraphApi): Promise<void> {
  await api.get('/organization?$select=id,displayName');
}

/** How many assignments the first page lists. */
export async function probeAssignments(api: GraphApi, servicePrincipalId: string): Promise<number> {
  const page = (await api.get(`/servicePrincipals/${servicePrincipalId}/appRoleAssignedTo`)) as {
    value?: unknown[];
  };
  return page.value?.length ?? 0;
}

export async function probeGroupsDelta(api: GraphApi): Promise<void> {
  await api.get('/groups/delta?$select=members&$deltatoken=latest');
}

export async function probeUsersDelta(api: GraphApi): Promise<void> {
  await api.get('/users/delta?$select=id&$deltatoken=latest');
}

import type { GraphApi } from '../graph/api.js';
import { GraphNotFoundError, GraphShapeError } from '../graph/errors.js';
import type { AppRole, Assignment, BadElement } from './types.js';
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
  onBad: (bad: BadElement) => void,
): AsyncGenerator<Assignment[]> {
  // $top=999 is the most Graph hands out per page (the default is 100): the listing is read in full
  // every cycle, so this is 10× fewer requests for it.
  const url = `/servicePrincipals/${servicePrincipalId}/appRoleAssignedTo?$select=principalId,principalType,appRoleId&$top=999`;
  for await (const page of notFoundNamesTheSetting(
    api,
    servicePrincipalId,
    api.pages<Record<string, unknown>>(url),
  )) {
    const assignments: Assignment[] = [];
    for (const item of page.value) {
      const problem = assignmentProblem(item);
      if (problem) {
        // One malformed assignment fails alone; the listing (and everyone else's scope) stands.
        const shown = JSON.stringify({
          principalId: item?.principalId,
          principalType: item?.principalType,
          appRoleId: item?.appRoleId,
        }).slice(0, 300);
        bad({ onBad, item, problem, shown });
        continue;
      }
      assignments.push({
        principalId: item.principalId as string,
        principalType: item.principalType as Assignment['principalType'],
        appRoleId: (item.appRoleId ?? DEFAULT_ACCESS) as string,
      });
    }
    yield assignments;
  }
}

function assignmentProblem(item: Record<string, unknown> | null): string | null {
  if (typeof item !== 'object' || item === null) return 'is not an object';
  if (!isObjectId(item.principalId)) return 'has no valid principalId';
  if (!TYPES.has(String(item.principalType)))
    return `has an unknown principalType ${JSON.stringify(item.principalType)}`;
  if (!isObjectId(item.appRoleId ?? DEFAULT_ACCESS)) return 'has no valid appRoleId';
  return null;
}

function bad(a: {
  onBad: (bad: BadElement) => void;
  item: Record<string, unknown> | null;
  problem: string;
  shown: string;
}): void {
  const principal = a.item?.principalId;
  a.onBad({
    key: `assignment ${a.shown}`,
    entraId: isObjectId(principal) ? principal : null,
    problem: `an appRoleAssignment ${a.problem} (${a.shown}); the assignment is skipped`,
  });
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
  const sp = (await api
    .get(`/servicePrincipals/${servicePrincipalId}?$select=id,appRoles`)
    .catch(async (error: unknown) => {
      throw await servicePrincipalProblem(api, servicePrincipalId, error);
    })) as { appRoles?: unknown };
  if (!Array.isArray(sp.appRoles)) return [];
  return sp.appRoles
    .filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null && isObjectId(r.id))
    .map((r) => ({
      id: r.id as string,
      value: typeof r.value === 'string' ? r.value : null,
      displayName: typeof r.displayName === 'string' ? r.displayName : null,
    }));
}

/** ENTRASYNC_SERVICE_PRINCIPAL_ID names no service principal (often: it is the client id). */
export class ServicePrincipalIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServicePrincipalIdError';
  }
}

const OBJECT_ID_HINT =
  "ENTRASYNC_SERVICE_PRINCIPAL_ID must be the enterprise application's Object ID (not the client/application id)";

/**
 * What a 404 for the service principal means, as an error naming the setting: when the id is an
 * application's client id, which one it is and the Object ID to use instead. Other errors unchanged.
 */
async function servicePrincipalProblem(api: GraphApi, id: string, error: unknown): Promise<unknown> {
  if (!(error instanceof GraphNotFoundError)) return error;
  let sp: { id?: unknown } | undefined;
  try {
    sp = (await api.get(`/servicePrincipals(appId='${id}')?$select=id,appId,displayName`)) as {
      id?: unknown;
    };
  } catch (probe) {
    if (!(probe instanceof GraphNotFoundError)) return error;
  }
  if (sp && isObjectId(sp.id)) {
    return new ServicePrincipalIdError(
      `${OBJECT_ID_HINT}: ${id} is the application (client) id of the service principal ${sp.id}; set ENTRASYNC_SERVICE_PRINCIPAL_ID=${sp.id}`,
    );
  }
  return new ServicePrincipalIdError(`${OBJECT_ID_HINT}: no service principal has the id ${id}`);
}

async function* notFoundNamesTheSetting<T>(api: GraphApi, id: string, pages: AsyncGenerator<T>) {
  try {
    yield* pages;
  } catch (error) {
    throw await servicePrincipalProblem(api, id, error);
  }
}

/**
 * The service principal whose assignments define the scope, read to prove it is one: the configured
 * id (checked, naming the setting when it is not a service principal's), or the client id's own.
 */
export async function verifyServicePrincipal(
  api: GraphApi,
  configured: string | undefined,
  clientId: string,
): Promise<{ id: string; displayName: string | null }> {
  const path = configured
    ? `/servicePrincipals/${configured}?$select=id,appId,displayName`
    : `/servicePrincipals(appId='${clientId}')?$select=id,appId,displayName`;
  const sp = (await api.get(path).catch(async (error: unknown) => {
    throw configured ? await servicePrincipalProblem(api, configured, error) : error;
  })) as { id?: unknown; displayName?: unknown };
  if (!isObjectId(sp.id)) throw new GraphShapeError('the service principal has no id');
  return { id: sp.id, displayName: typeof sp.displayName === 'string' ? sp.displayName : null };
}

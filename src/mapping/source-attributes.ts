/**
 * The names a mapping may read: the properties of Microsoft Graph's v1.0 `user` resource (what a
 * users/delta `$select` can carry), directory extensions, and the virtual attributes the evaluator
 * answers itself. A name outside them is almost always a typo, and Graph would answer every user
 * without it: the mapping would write empty values for everyone instead of failing.
 */
import { VIRTUAL_ATTRIBUTES } from './evaluator.js';

/** Microsoft Graph v1.0 `user` properties, plus the `manager` relationship that users/delta selects. */
export const GRAPH_USER_PROPERTIES = [
  'aboutMe',
  'accountEnabled',
  'ageGroup',
  'assignedLicenses',
  'assignedPlans',
  'authorizationInfo',
  'birthday',
  'businessPhones',
  'city',
  'companyName',
  'consentProvidedForMinor',
  'country',
  'createdDateTime',
  'creationType',
  'customSecurityAttributes',
  'deletedDateTime',
  'department',
  'displayName',
  'employeeHireDate',
  'employeeId',
  'employeeLeaveDateTime',
  'employeeOrgData',
  'employeeType',
  'externalUserState',
  'externalUserStateChangeDateTime',
  'faxNumber',
  'givenName',
  'hireDate',
  'id',
  'identities',
  'imAddresses',
  'interests',
  'isManagementRestricted',
  'isResourceAccount',
  'jobTitle',
  'lastPasswordChangeDateTime',
  'legalAgeGroupClassification',
  'licenseAssignmentStates',
  'mail',
  'mailboxSettings',
  'mailNickname',
  'manager',
  'mobilePhone',
  'mySite',
  'officeLocation',
  'onPremisesDistinguishedName',
  'onPremisesDomainName',
  'onPremisesExtensionAttributes',
  'onPremisesImmutableId',
  'onPremisesLastSyncDateTime',
  'onPremisesProvisioningErrors',
  'onPremisesSamAccountName',
  'onPremisesSecurityIdentifier',
  'onPremisesSyncEnabled',
  'onPremisesUserPrincipalName',
  'otherMails',
  'passwordPolicies',
  'passwordProfile',
  'pastProjects',
  'postalCode',
  'preferredDataLocation',
  'preferredLanguage',
  'preferredName',
  'provisionedPlans',
  'proxyAddresses',
  'responsibilities',
  'schools',
  'securityIdentifier',
  'serviceProvisioningErrors',
  'showInAddressList',
  'signInActivity',
  'signInSessionsValidFromDateTime',
  'skills',
  'state',
  'streetAddress',
  'surname',
  'usageLocation',
  'userPrincipalName',
  'userType',
] as const;

/** A directory extension: `extension_<application id without dashes>_<name>`. */
const DIRECTORY_EXTENSION = /^extension_[0-9a-f]{32}_[A-Za-z0-9_]+$/i;

const KNOWN = new Map(
  [...GRAPH_USER_PROPERTIES, ...VIRTUAL_ATTRIBUTES].map((name) => [name.toLowerCase(), name]),
);

/**
 * Null when `name` is a property mappings can read (in any case, as Graph's $select and the
 * evaluator ignore case); else the problem, with the closest known name when one is near.
 */
export function unknownSourceAttribute(name: string): string | null {
  if (KNOWN.has(name.toLowerCase()) || DIRECTORY_EXTENSION.test(name)) return null;
  const problem = `unknown source attribute "${name}"`;
  if (/^extension_/i.test(name)) {
    return `${problem} (a directory extension is extension_<application id without dashes>_<name>)`;
  }
  const suggestion = closest(name);
  return suggestion
    ? `${problem} (did you mean "${suggestion}"?)`
    : `${problem}: not a property of the Microsoft Graph user resource`;
}

/** The known name nearest to `name` by edit distance, when near enough to be the meant one. */
function closest(name: string): string | undefined {
  return closestName(name, KNOWN);
}

/** The name of `names` (lower-cased key → spelling) nearest to `name`, when near enough (group mappings too). */
export function closestName(name: string, names: ReadonlyMap<string, string>): string | undefined {
  const lower = name.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const [key, known] of names) {
    const distance = editDistance(lower, key);
    if (!best || distance < best.distance) best = { name: known, distance };
  }
  // A third of the name's length: catches swapped, missing and doubled letters, not other words.
  return best && best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.name : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

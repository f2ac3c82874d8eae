import { hash32 } from './ids.js';

/**
 * Realistic directory data: names in several scripts (so clients meet accents, CJK, Cyrillic and
 * right-to-left text), guests with #EXT# UPNs, users without mail and disabled users. Everything is
 * a pure function of (seed, slot index), so bulk users need no storage.
 */
type Pair = readonly [native: string, ascii: string];
interface Culture {
  given: readonly Pair[];
  surname: readonly Pair[];
  /** Family name first, as in Japanese and Chinese display names. */
  familyFirst?: boolean;
  /** No space between family and given name. */
  joined?: boolean;
  city: string;
}

const CULTURES: readonly Culture[] = [
  {
    given: [
      ['James', 'james'],
      ['Olivia', 'olivia'],
      ['Liam', 'liam'],
      ['Emma', 'emma'],
      ['Noah', 'noah'],
      ['Ava', 'ava'],
    ],
    surname: [
      ['Smith', 'smith'],
      ['Johnson', 'johnson'],
      ["O'Brien", 'obrien'],
      ['Taylor', 'taylor'],
      ['Brown', 'brown'],
    ],
    city: 'Seattle',
  },
  {
    given: [
      ['José', 'jose'],
      ['Zoë', 'zoe'],
      ['François', 'francois'],
      ['Jürgen', 'jurgen'],
      ['Åsa', 'asa'],
      ['Inés', 'ines'],
    ],
    surname: [
      ['Müller', 'muller'],
      ['García', 'garcia'],
      ['Núñez', 'nunez'],
      ['Lefèvre', 'lefevre'],
      ['Dvořák', 'dvorak'],
    ],
    city: 'München',
  },
  {
    given: [
      ['Łukasz', 'lukasz'],
      ['Søren', 'soren'],
      ['Ægir', 'aegir'],
      ['Małgorzata', 'malgorzata'],
    ],
    surname: [
      ['Kowalczyk', 'kowalczyk'],
      ['Ørsted', 'orsted'],
      ['Þórsson', 'thorsson'],
      ['Wiśniewska', 'wisniewska'],
    ],
    city: 'Kraków',
  },
  {
    given: [
      ['太郎', 'taro'],
      ['花子', 'hanako'],
      ['翔', 'sho'],
      ['陽菜', 'hina'],
    ],
    surname: [
      ['山田', 'yamada'],
      ['佐藤', 'sato'],
      ['鈴木', 'suzuki'],
      ['高橋', 'takahashi'],
    ],
    familyFirst: true,
    city: '東京',
  },
  {
    given: [
      ['伟', 'wei'],
      ['芳', 'fang'],
      ['磊', 'lei'],
    ],
    surname: [
      ['王', 'wang'],
      ['李', 'li'],
      ['张', 'zhang'],
    ],
    familyFirst: true,
    joined: true,
    city: '上海',
  },
  {
    given: [
      ['Олег', 'oleg'],
      ['Анна', 'anna'],
      ['Дмитрий', 'dmitry'],
      ['Екатерина', 'ekaterina'],
    ],
    surname: [
      ['Петров', 'petrov'],
      ['Иванова', 'ivanova'],
      ['Смирнов', 'smirnov'],
    ],
    city: 'Москва',
  },
  {
    given: [
      ['محمد', 'mohammed'],
      ['فاطمة', 'fatima'],
      ['علي', 'ali'],
      ['ليلى', 'layla'],
    ],
    surname: [
      ['حسن', 'hassan'],
      ['العلي', 'alali'],
      ['منصور', 'mansour'],
    ],
    city: 'دبي',
  },
  {
    given: [
      ['Γιώργος', 'giorgos'],
      ['Ελένη', 'eleni'],
    ],
    surname: [
      ['Παπαδόπουλος', 'papadopoulos'],
      ['Νικολάου', 'nikolaou'],
    ],
    city: 'Αθήνα',
  },
];

const DEPARTMENTS = [
  'Engineering',
  'Sales',
  'Finance',
  'Human Resources',
  'Support',
  'Marketing',
  'Legal',
  'R&D',
];
const TITLES = [
  'Engineer',
  'Senior Engineer',
  'Account Manager',
  'Analyst',
  'Director',
  'Consultant',
  'Intern',
];
const GUEST_DOMAINS = ['fabrikam.com', 'example.org', 'partner.co.uk', 'northwind.de'];

const pick = <T>(list: readonly T[], h: number): T => list[h % list.length]!;

export interface PersonName {
  displayName: string;
  givenName: string;
  surname: string;
  ascii: string;
}

export function personName(seed: number, index: number): PersonName {
  return nameFrom(hash32(seed, index));
}

function nameFrom(h: number): PersonName & { city: string } {
  const c = CULTURES[h % CULTURES.length]!;
  const g = pick(c.given, h >>> 8);
  const s = pick(c.surname, h >>> 16);
  const sep = c.joined ? '' : ' ';
  const displayName = c.familyFirst ? `${s[0]}${sep}${g[0]}` : `${g[0]}${sep}${s[0]}`;
  return { displayName, givenName: g[0], surname: s[0], ascii: `${g[1]}.${s[1]}`, city: c.city };
}

/** The stored shape of a generated user (the same shape createUser stores), `id` first. */
export function generateUser(
  id: string,
  seed: number,
  index: number,
  domain: string,
  prefix?: string,
): Record<string, unknown> {
  const n = nameFrom(hash32(seed, index));
  const h = hash32(seed ^ 0x5bd1e995, index);
  const guest = h % 29 === 0;
  const local = prefix !== undefined ? `${prefix}${index}` : `${n.ascii}${index}`;
  const user: Record<string, unknown> = {
    id,
    displayName: n.displayName,
    givenName: n.givenName,
    surname: n.surname,
    accountEnabled: (h >>> 9) % 37 !== 0,
  };
  if (guest) {
    const theirs = pick(GUEST_DOMAINS, h >>> 3);
    user.userPrincipalName = `${local}_${theirs}#EXT#@${domain}`;
    user.mail = `${local}@${theirs}`;
    user.userType = 'Guest';
    return user;
  }
  const upn = `${local}@${domain}`;
  user.userPrincipalName = upn;
  if ((h >>> 5) % 13 !== 0) user.mail = upn;
  user.userType = 'Member';
  user.department = pick(DEPARTMENTS, h >>> 11);
  user.jobTitle = pick(TITLES, h >>> 14);
  user.employeeId = `E${index < 1e7 ? (1e7 + index).toString().slice(1) : index}`;
  user.city = n.city;
  if ((h >>> 17) % 3 === 0) user.mobilePhone = `+1 555 ${(10000 + (h % 10000)).toString().slice(1)}`;
  return user;
}

export function groupName(seed: number, n: number): string {
  const h = hash32(seed ^ 0x1234567, n);
  return `${pick(DEPARTMENTS, h)} ${pick(['Team', 'Project', 'Leads', 'Access', 'Équipe', 'チーム'], h >>> 8)} ${n}`;
}

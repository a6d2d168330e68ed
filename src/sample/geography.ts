/**
 * The location tree (Global → regions → countries → cities) and the consolidated reporting tree
 * (group → business segments → regions → countries) that both sample commands use: a footprint
 * like a large international bank's.
 */
import type { TreeNode } from './context.js';
import { hashString } from '../util/random.js';

type City = readonly [code: string, name: string];
type Country = readonly [iso: string, name: string, cities: readonly City[]];
type Region = readonly [code: string, name: string, countries: readonly Country[]];

const FOOTPRINT: readonly Region[] = [
  ['EUR', 'Europe', [
    ['GB', 'United Kingdom', [['LDN', 'London'], ['EDI', 'Edinburgh'], ['MAN', 'Manchester']]],
    ['IE', 'Ireland', [['DUB', 'Dublin']]],
    ['DE', 'Germany', [['FRA', 'Frankfurt'], ['BER', 'Berlin']]],
    ['FR', 'France', [['PAR', 'Paris']]],
    ['NL', 'Netherlands', [['AMS', 'Amsterdam']]],
    ['LU', 'Luxembourg', [['LUX', 'Luxembourg City']]],
    ['CH', 'Switzerland', [['ZRH', 'Zurich'], ['GVA', 'Geneva']]],
    ['PL', 'Poland', [['KRK', 'Krakow'], ['WAW', 'Warsaw']]],
    ['ES', 'Spain', [['MAD', 'Madrid']]],
    ['IT', 'Italy', [['MIL', 'Milan']]],
  ]],
  ['AMER', 'Americas', [
    ['US', 'United States', [['NYC', 'New York'], ['CLT', 'Charlotte'], ['CHI', 'Chicago'], ['SFO', 'San Francisco'], ['JCY', 'Jersey City']]],
    ['CA', 'Canada', [['TOR', 'Toronto'], ['MTL', 'Montreal']]],
    ['BR', 'Brazil', [['SAO', 'Sao Paulo']]],
    ['MX', 'Mexico', [['MEX', 'Mexico City']]],
  ]],
  ['APAC', 'Asia Pacific', [
    ['SG', 'Singapore', [['SIN', 'Singapore']]],
    ['HK', 'Hong Kong', [['HKG', 'Hong Kong']]],
    ['JP', 'Japan', [['TYO', 'Tokyo']]],
    ['AU', 'Australia', [['SYD', 'Sydney'], ['MEL', 'Melbourne']]],
    ['IN', 'India', [['BOM', 'Mumbai'], ['PNQ', 'Pune'], ['BLR', 'Bengaluru'], ['MAA', 'Chennai']]],
    ['CN', 'China', [['SHA', 'Shanghai']]],
    ['MY', 'Malaysia', [['KUL', 'Kuala Lumpur']]],
    ['PH', 'Philippines', [['MNL', 'Manila']]],
  ]],
  ['MEA', 'Middle East and Africa', [
    ['AE', 'United Arab Emirates', [['DXB', 'Dubai']]],
    ['SA', 'Saudi Arabia', [['RUH', 'Riyadh']]],
    ['ZA', 'South Africa', [['JNB', 'Johannesburg']]],
    ['KE', 'Kenya', [['NBO', 'Nairobi']]],
  ]],
];

export const GLOBAL_LOCATION_ID = 'LOC-GLOBAL';

/** The id of a city's location node, e.g. cityId('GB', 'LDN') = 'LOC-GB-LDN'. */
export function cityId(iso: string, code: string): string {
  return `LOC-${iso}-${code}`;
}

/** Global → 4 regions → 26 countries → 40 cities. */
export function locationTree(): TreeNode {
  return {
    id: GLOBAL_LOCATION_ID,
    name: 'Global',
    type: 'Global',
    children: FOOTPRINT.map(([code, name, countries]) => ({
      id: `LOC-${code}`,
      name,
      type: 'Region',
      children: countries.map(([iso, countryName, cities]) => ({
        id: `LOC-${iso}`,
        name: countryName,
        type: 'Country',
        children: cities.map(([cityCode, cityName]) => ({ id: cityId(iso, cityCode), name: cityName, type: 'City', children: [] })),
      })),
    })),
  };
}

/** Every city's location id, in tree order. */
export function cityIds(): string[] {
  return FOOTPRINT.flatMap(([, , countries]) => countries.flatMap(([iso, , cities]) => cities.map(([code]) => cityId(iso, code))));
}

const SEGMENTS = [
  ['CIB', 'Corporate and Investment Banking', 1],
  ['RCB', 'Retail and Commercial Banking', 0.6],
  ['WAM', 'Wealth and Asset Management', 0.5],
  ['CTR', 'Group Centre', 1],
] as const;

/**
 * Group → segments → segment regions → segment countries. Not every segment reports in every
 * country (a stable hash decides), as in a real group; each region keeps at least its first country.
 */
export function consolidatedTree(): TreeNode {
  return {
    id: 'CONS-GROUP',
    name: 'Group Consolidated',
    type: 'Group',
    children: SEGMENTS.map(([seg, segName, share]) => ({
      id: `CONS-${seg}`,
      name: segName,
      type: 'Segment',
      children: FOOTPRINT.map(([region, regionName, countries]) => ({
        id: `CONS-${seg}-${region}`,
        name: `${segName} ${regionName}`,
        type: 'Region',
        children: countries
          .filter(([iso], i) => i === 0 || (hashString(`${seg}:${iso}`) % 1000) / 1000 < share)
          .map(([iso, countryName]) => ({ id: `CONS-${seg}-${iso}`, name: `${segName} ${countryName}`, type: 'Reporting unit', children: [] })),
      })),
    })),
  };
}

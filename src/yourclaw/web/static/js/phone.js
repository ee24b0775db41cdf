// Countries with their dial codes and national number lengths, for feedback as you type. The server
// (libphonenumber) has the last word; this only catches what is plainly wrong before asking it.
// [ISO code, name, dial code, shortest, longest national number, trunk prefix dropped after the dial code]
const COUNTRIES = [
  ["US", "United States", "1", 10, 10, ""],
  ["CA", "Canada", "1", 10, 10, ""],
  ["GB", "United Kingdom", "44", 10, 10, "0"],
  ["IE", "Ireland", "353", 7, 9, "0"],
  ["FR", "France", "33", 9, 9, "0"],
  ["DE", "Germany", "49", 6, 13, "0"],
  ["ES", "Spain", "34", 9, 9, ""],
  ["IT", "Italy", "39", 6, 11, ""],
  ["PT", "Portugal", "351", 9, 9, ""],
  ["NL", "Netherlands", "31", 9, 9, "0"],
  ["BE", "Belgium", "32", 8, 9, "0"],
  ["CH", "Switzerland", "41", 9, 9, "0"],
  ["AT", "Austria", "43", 4, 13, "0"],
  ["SE", "Sweden", "46", 7, 9, "0"],
  ["NO", "Norway", "47", 8, 8, ""],
  ["DK", "Denmark", "45", 8, 8, ""],
  ["FI", "Finland", "358", 5, 10, "0"],
  ["PL", "Poland", "48", 9, 9, ""],
  ["GR", "Greece", "30", 10, 10, ""],
  ["TR", "Türkiye", "90", 10, 10, "0"],
  ["IL", "Israel", "972", 8, 9, "0"],
  ["AE", "United Arab Emirates", "971", 8, 9, "0"],
  ["SA", "Saudi Arabia", "966", 9, 9, "0"],
  ["IN", "India", "91", 10, 10, "0"],
  ["PK", "Pakistan", "92", 9, 10, "0"],
  ["SG", "Singapore", "65", 8, 8, ""],
  ["ID", "Indonesia", "62", 8, 12, "0"],
  ["PH", "Philippines", "63", 10, 10, "0"],
  ["JP", "Japan", "81", 9, 10, "0"],
  ["KR", "South Korea", "82", 8, 10, "0"],
  ["AU", "Australia", "61", 9, 9, "0"],
  ["NZ", "New Zealand", "64", 8, 10, "0"],
  ["BR", "Brazil", "55", 10, 11, "0"],
  ["MX", "Mexico", "52", 10, 10, ""],
  ["AR", "Argentina", "54", 10, 11, "0"],
  ["CO", "Colombia", "57", 10, 10, ""],
  ["CL", "Chile", "56", 9, 9, ""],
  ["ZA", "South Africa", "27", 9, 9, "0"],
  ["NG", "Nigeria", "234", 8, 10, "0"],
  ["KE", "Kenya", "254", 9, 9, "0"],
  ["EG", "Egypt", "20", 9, 10, "0"],
];

export const countries = COUNTRIES.map(([iso, name, dial, min, max, trunk]) => ({ iso, name, dial, min, max, trunk }));

export function byIso(iso) {
  return countries.find((c) => c.iso === iso) || null;
}

// The country the browser's language suggests (en-GB → GB), else the United States.
export function guessCountry() {
  for (const tag of navigator.languages || [navigator.language || ""]) {
    const region = tag.split("-")[1];
    if (region && byIso(region.toUpperCase())) return region.toUpperCase();
  }
  return "US";
}

// {ok, e164, message}: `raw` may be a national number (the country's dial code is added) or a full
// international one starting with + (the country is then ignored).
export function check(country, raw) {
  const text = (raw || "").trim();
  if (!text) return { ok: false, e164: "", message: "" };
  if (/[^0-9+()\-.\s]/.test(text)) return { ok: false, e164: "", message: "Use digits only." };
  let digits = text.replace(/[^0-9]/g, "");
  if (text.startsWith("+") || text.startsWith("00")) {
    if (text.startsWith("00")) digits = digits.slice(2);
    if (digits.length < 8) return { ok: false, e164: "", message: "Too short for an international number." };
    if (digits.length > 15) return { ok: false, e164: "", message: "Too long: at most 15 digits after the +." };
    return { ok: true, e164: "+" + digits, message: "International number: +" + digits };
  }
  if (!country) return { ok: false, e164: "", message: "Choose your country, or start with + and the country code." };
  if (country.trunk && digits.startsWith(country.trunk)) digits = digits.slice(country.trunk.length);
  if (country.dial === "1" && digits.length === 11 && digits.startsWith("1")) digits = digits.slice(1);
  if (digits.length < country.min) {
    return { ok: false, e164: "", message: `Too short for a number in ${country.name}.` };
  }
  if (digits.length > country.max) {
    return { ok: false, e164: "", message: `Too long for a number in ${country.name}.` };
  }
  return { ok: true, e164: `+${country.dial}${digits}`, message: `Looks right: +${country.dial} ${digits}` };
}

export function timezone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch {
    return null;
  }
}

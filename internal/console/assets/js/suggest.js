// Suggested pairs for the field mapping: a Contacthub field and the
// Contactsend field of the same name or meaning. Only the options the API
// offers for a field are considered, so the types are always compatible.

// Words that mean the same thing, as Contactsend userdbs tend to name their
// columns (in English and Italian), by concept.
const synonyms = [
  ['email', 'emailaddress', 'mail', 'posta', 'indirizzoemail'],
  ['firstname', 'givenname', 'name', 'nome'],
  ['lastname', 'surname', 'familyname', 'cognome'],
  ['middlename', 'secondname', 'secondonome'],
  ['dob', 'dateofbirth', 'birthdate', 'birthday', 'datanascita', 'datadinascita'],
  ['gender', 'sex', 'sesso', 'genere'],
  ['mobilephone', 'mobile', 'mobilenumber', 'cellphone', 'cell', 'cellulare'],
  ['phone', 'telephone', 'phonenumber', 'telefono', 'tel'],
  ['city', 'town', 'citta', 'comune'],
  ['country', 'nation', 'nazione', 'paese'],
  ['zip', 'zipcode', 'postcode', 'postalcode', 'cap'],
  ['province', 'provincia'],
  ['region', 'regione'],
  ['street', 'address', 'indirizzo', 'via'],
  ['externalid', 'customercode', 'customerid', 'codicecliente'],
  ['locale', 'language', 'lingua'],
  ['title', 'salutation', 'titolo'],
];

// normalise drops case, accents and everything but letters and digits, so
// FIRST_NAME, firstName and "First name" are the same word.
export function normalise(text) {
  return String(text ?? '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]/g, '');
}

function concept(word) {
  return synonyms.findIndex((words) => words.includes(word));
}

// score says how well a Contactsend field name fits a Contacthub field: 2
// for the same name, 1 for the same meaning, 0 for none.
function score(hubField, sendName) {
  const send = normalise(sendName);
  const last = normalise(hubField.path.split('.').pop());
  const label = normalise((hubField.label ?? '').split('›').pop());
  if (send === last || (label && send === label)) return 2;
  const c = concept(last);
  if (c >= 0 && c === concept(send)) return 1;
  return 0;
}

// suggestMapping proposes, for each Contacthub field, the best fitting
// Contactsend field among its options that is not in taken (one
// Contactsend field holds one Contacthub field). With proposeMatch, the
// e-mail pair is proposed as the match field, as e-mail is how Contactsend
// finds a subscriber. It returns a map from Contacthub path to
// {sendField, match}.
export function suggestMapping(hubFields, taken = new Set(), { proposeMatch = true } = {}) {
  const candidates = [];
  for (const f of hubFields) {
    for (const o of f.options ?? []) {
      let s = score(f, o.name);
      // The userdb's e-mail column is the e-mail, whatever it is called.
      if (o.emailField && f.type === 'email') s = Math.max(s, 2);
      if (s > 0) candidates.push({ path: f.path, sendField: o.name, score: s, email: Boolean(o.emailField && f.type === 'email') });
    }
  }
  // Best fits first, so an exact name wins over a synonym.
  candidates.sort((a, b) => b.score - a.score);
  const used = new Set(taken);
  const out = new Map();
  for (const c of candidates) {
    if (out.has(c.path) || used.has(c.sendField)) continue;
    out.set(c.path, { sendField: c.sendField, match: false, email: c.email });
    used.add(c.sendField);
  }
  if (proposeMatch) {
    const email = [...out.values()].find((s) => s.email);
    if (email) email.match = true;
  }
  return out;
}

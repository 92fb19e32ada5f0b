//! Recognising a primary account number (a card number) in text, so that it is refused before
//! it can reach a log or the store (invariant 6). People and forms write card numbers in many
//! ways: grouped by spaces, dashes, dots, slashes or underscores, in full-width digits from an
//! East Asian keyboard, in another script's digits, or split by invisible zero-width
//! characters. All of them are read as the digits they are.

/// True for text that is or holds a card number: either nothing but 12 to 19 digits (however
/// separated), or any run of 13 to 19 digits, separated as above, that passes the Luhn check
/// card numbers carry ([`holds_card_number`]). For names, descriptions and metadata, where a
/// bare number that long has no business.
pub fn looks_like_card_number(text: &str) -> bool {
    let digits = text.chars().filter(|&c| decimal_digit(c).is_some()).count();
    let only_digits = text.chars().all(|c| decimal_digit(c).is_some() || is_separator(c));
    (only_digits && (12..=19).contains(&digits)) || holds_card_number(text)
}

/// True for text holding 13 to 19 digits in a row (single separators between them allowed)
/// that pass the Luhn check: the contract's rule for every free-text field, phone numbers and
/// tax ids included.
pub fn holds_card_number(text: &str) -> bool {
    let mut run: Vec<u8> = Vec::new();
    let mut previous_was_separator = false;
    for c in text.chars().chain(std::iter::once('\0')) {
        if let Some(digit) = decimal_digit(c) {
            run.push(digit);
            previous_was_separator = false;
            continue;
        }
        if is_separator(c) && !previous_was_separator && !run.is_empty() {
            previous_was_separator = true;
            continue;
        }
        if (13..=19).contains(&run.len()) && passes_luhn(&run) || any_window_passes(&run) {
            return true;
        }
        run.clear();
        previous_was_separator = false;
    }
    false
}

/// What people put between a card number's digit groups: any whitespace, dashes of every
/// width, dots, slashes, underscores (and their full-width forms), and the zero-width
/// characters that show as nothing at all.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.'
                | '/'
                | '_'
                | '\u{2010}'..='\u{2015}'
                | '\u{2212}'
                | '\u{30FC}'
                | '\u{FF0D}'
                | '\u{FF0E}'
                | '\u{FF0F}'
                | '\u{FF3F}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'
                | '\u{FEFF}'
        )
}

/// The first code point (digit zero) of each run of ten decimal digits Unicode lists (general
/// category Nd): ASCII, Arabic-Indic, Devanagari, Thai, full-width, mathematical and the rest.
const DIGIT_ZEROS: [u32; 68] = [
    0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
    0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0,
    0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60,
    0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0,
    0x1E950, 0x1FBF0,
];

/// The value of `c` as a decimal digit of any script.
fn decimal_digit(c: char) -> Option<u8> {
    let code = u32::from(c);
    if c.is_ascii() {
        return c.is_ascii_digit().then(|| code as u8 - b'0');
    }
    DIGIT_ZEROS
        .iter()
        .find(|&&zero| (zero..zero + 10).contains(&code))
        .map(|zero| (code - zero) as u8)
}

/// A long run of digits may hide a card number inside it.
fn any_window_passes(run: &[u8]) -> bool {
    run.len() > 19 && (13..=19).any(|width| run.windows(width).any(passes_luhn))
}

fn passes_luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(position, &digit)| {
            let digit = u32::from(digit);
            match position % 2 {
                0 => digit,
                _ if digit * 2 > 9 => digit * 2 - 9,
                _ => digit * 2,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_are_recognised_however_written() {
        for text in [
            "4242424242424242",
            "4242 4242 4242 4242",
            "4242-4242-4242-4242",
            "4242.4242.4242.4242",
            "4242/4242/4242/4242",
            "4242_4242_4242_4242",
            "4242\u{00A0}4242\u{2009}4242\u{3000}4242",
            "4242\u{2013}4242\u{2014}4242\u{2212}4242",
            "４２４２４２４２４２４２４２４２",
            "４２４２－４２４２－４２４２－４２４２",
            "\u{0664}\u{0662}\u{0664}\u{0662}\u{0664}\u{0662}\u{0664}\u{0662}\u{0664}\u{0662}\u{0664}\u{0662}\u{0664}\u{0662}\u{0664}\u{0662}",
            "4242\u{200B}4242\u{200B}4242\u{200B}4242",
            "pm_4242424242424242",
            "card 5555 5555 5555 4444 exp 12/30",
            "378282246310005",
            "ref 99994242424242424242",
        ] {
            assert!(looks_like_card_number(text), "{text:?} holds a card number");
            assert!(holds_card_number(text), "{text:?} holds a Luhn-valid run");
        }
    }

    #[test]
    fn ordinary_text_is_not_a_card_number() {
        for text in [
            "pm_card_visa",
            "12345",
            "order 2026-11-22",
            "2026-11-22 10:30:45",
            "+254712345678",
            "+254 712 345 678",
            "4242424242424241 is not Luhn-valid",
            "pm_card_chargeDeclinedInsufficientFunds",
            "١٢٣",
        ] {
            assert!(!looks_like_card_number(text), "{text:?} is not a card number");
        }
    }

    #[test]
    fn a_long_bare_number_is_refused_in_text_but_not_as_a_phone_or_tax_id() {
        // 14 digits, not Luhn-valid: a CNPJ, or a number nobody writes in a name.
        let cnpj = "11222333000182";
        assert!(!passes_luhn(&cnpj.bytes().map(|b| b - b'0').collect::<Vec<_>>()));
        assert!(looks_like_card_number(cnpj));
        assert!(!holds_card_number(cnpj));
    }

    #[test]
    fn every_listed_script_has_ten_digits() {
        for zero in DIGIT_ZEROS {
            for value in 0..10 {
                let c = char::from_u32(zero + value).expect("a digit is a char");
                assert_eq!(decimal_digit(c), Some(value as u8), "U+{:04X}", zero + value);
            }
        }
    }
}

//! `without_binary_parts`: what a decrypted entity becomes for delivery.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[test]
fn delivered_entities_keep_signed_content_and_reencode_other_binary_parts() {
    let signed = b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=s\r\n\r\n\
--s\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\nA\r\n\
--s\r\nContent-Type: application/pkcs7-signature\r\n\r\nsig\r\n--s--\r\n";
    assert_eq!(
        mail_message::without_binary_parts(signed),
        &signed[..],
        "changing signed content would break its signature"
    );
    let mut mixed =
        b"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nhi\r\n--m\r\n"
            .to_vec();
    mixed.extend_from_slice(&signed[..]);
    mixed.extend_from_slice(
        b"\r\n--m\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\n\r\n--m--\r\n",
    );
    let delivered = mail_message::without_binary_parts(&mixed);
    let text = String::from_utf8_lossy(&delivered);
    assert!(text.contains("\x00\nA"), "the signed part is untouched");
    assert!(
        text.contains("Content-Transfer-Encoding: base64\r\n\r\nAAo=\r\n"),
        "{text}"
    );
}

#[test]
fn malformed_entities_are_delivered_as_they_are() {
    let broken = b"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n";
    assert_eq!(mail_message::without_binary_parts(broken), &broken[..]);
}

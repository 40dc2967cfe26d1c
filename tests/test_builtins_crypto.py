"""Cryptography, hashing and randomness builtins, checked against published test vectors:
RFC 1321 A.5 (MD5), FIPS 180-4 / RFC 3174 examples (SHA-1, SHA-2), RFC 2104 / RFC 2202 /
RFC 4231 (HMAC), NIST SP 800-38A F.1/F.2 (AES-ECB/CBC), RFC 8032 7.1 (Ed25519),
RFC 9562 (UUIDv5), Drepper's SHA-crypt specification (crypt $5$/$6$)."""
import re

import pytest

from hsl.builtins import FUNCTIONS, load_all
from hsl.errors import ScriptError
from hsl.runtime.values import HArray

load_all()


def F(name, *args):
    return FUNCTIONS[name].fn(*args)


def opts(**kw):
    return HArray.from_pairs([(k.encode(), v) for k, v in kw.items()])


BINARY = opts(binary=True)

# --------------------------------------------------------------------- MD5

RFC1321 = [
    (b"", "d41d8cd98f00b204e9800998ecf8427e"),
    (b"a", "0cc175b9c0f1b6a831c399e269772661"),
    (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
    (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
    (b"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
     "d174ab98d277d9f5a5611c2c9f419d9f"),
    (b"1234567890" * 8, "57edf4a22be3c955ac49da2e2107b67a"),
]


@pytest.mark.parametrize("msg,digest", RFC1321)
def test_md5_rfc1321(msg, digest):
    assert F("md5", msg) == digest.encode()
    assert F("md5", msg, BINARY) == bytes.fromhex(digest)


def test_md5_options_and_types():
    assert F("md5", b"abc", opts(binary=False)) == b"900150983cd24fb0d6963f7d28e17f72"
    assert F("md5", b"abc", HArray()) == b"900150983cd24fb0d6963f7d28e17f72"
    with pytest.raises(ScriptError, match=r"md5\(\).*type"):
        F("md5", 1.0)
    with pytest.raises(ScriptError, match=r"md5\(\).*type"):
        F("md5", None)
    with pytest.raises(ScriptError, match="type"):
        F("md5", b"abc", b"binary")
    with pytest.raises(ScriptError, match="type"):
        F("md5", b"abc", opts(binary=b"yes"))


def test_md5_bytes_not_text():
    # strings are bytes: UTF-8 "ä" is two bytes c3 a4
    assert F("md5", "ä".encode()) == F("md5", b"\xc3\xa4")
    assert F("md5", b"\xff\x00") != F("md5", b"\xff")


# ------------------------------------------------------------------- SHA-1/2

ABC = b"abc"
M448 = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
M896 = (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
        b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")


def test_sha1_fips180():
    assert F("sha1", ABC) == b"a9993e364706816aba3e25717850c26c9cd0d89d"
    assert F("sha1", M448) == b"84983e441c3bd26ebaae4aa1f95129e5e54670f1"
    assert F("sha1", b"") == b"da39a3ee5e6b4b0d3255bfef95601890afd80709"
    assert len(F("sha1", ABC, BINARY)) == 20


@pytest.mark.parametrize("size,msg,digest", [
    (224, ABC, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
    (224, M448, "75388b16512776cc5dba5da1fd890150b0c6455cb4f58b1952522525"),
    (256, ABC, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (256, M448, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    (384, ABC, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
               "8086072ba1e7cc2358baeca134c825a7"),
    (384, M896, "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712"
                "fcc7c71a557e2db966c3e9fa91746039"),
    (512, ABC, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
               "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    (512, M896, "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
                "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
])
def test_sha2_fips180(size, msg, digest):
    assert F("sha2", msg, float(size)) == digest.encode()
    assert F("sha2", msg, float(size), BINARY) == bytes.fromhex(digest)


def test_sha2_bad_size():
    for bad in (0.0, 128.0, 1.0, float("nan"), float("inf")):
        with pytest.raises(ScriptError, match="224, 256, 384 or 512"):
            F("sha2", b"abc", bad)
    with pytest.raises(ScriptError, match="type"):
        F("sha2", b"abc", b"256")
    # number arguments used as integers truncate toward zero
    assert F("sha2", b"abc", 256.9) == F("sha2", b"abc", 256.0)


def test_hash_crc32():
    # CRC-32 check value (the standard "123456789" check string)
    assert F("hash", b"123456789") == float(0xCBF43926)
    assert F("hash", b"") == 0.0
    assert F("hash", b"abc") == F("hash", b"abc")
    assert F("hash", b"abc") != F("hash", b"abd")
    assert type(F("hash", b"x")) is float and 0 <= F("hash", b"\xff" * 100) < 2 ** 32
    with pytest.raises(ScriptError, match="type"):
        F("hash", 1.0)


# --------------------------------------------------------------------- HMAC

def test_hmac_md5_rfc2104():
    assert F("hmac_md5", b"\x0b" * 16, b"Hi There") == b"9294727a3638bb1c13f48ef8158bfc9d"
    assert F("hmac_md5", b"Jefe", b"what do ya want for nothing?") == \
        b"750c783e6ab0b503eaa86e310a5db738"
    assert F("hmac_md5", b"\xaa" * 16, b"\xdd" * 50) == b"56be34521d144c88dbb8c733f0e8b3f6"
    assert F("hmac_md5", b"Jefe", b"what do ya want for nothing?", BINARY) == \
        bytes.fromhex("750c783e6ab0b503eaa86e310a5db738")


def test_hmac_sha1_rfc2202():
    assert F("hmac_sha1", b"\x0b" * 20, b"Hi There") == \
        b"b617318655057264e28bc0b6fb378c8ef146be00"
    assert F("hmac_sha1", b"Jefe", b"what do ya want for nothing?") == \
        b"effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"


RFC4231 = [
    (b"\x0b" * 20, b"Hi There", {
        224: "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22",
        256: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        384: "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
             "faea9ea9076ede7f4af152e8b2fa9cb6",
        512: "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
             "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"}),
    (b"Jefe", b"what do ya want for nothing?", {
        224: "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
        256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        384: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
             "8e2240ca5e69e2c78b3239ecfab21649",
        512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
             "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"}),
    (b"\xaa" * 20, b"\xdd" * 50, {
        224: "7fb3cb3588c6c1f6ffa9694d7d6ad2649365b0c1f65d69d1ec8333ea",
        256: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        384: "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b"
             "2a5ab39dc13814b94e3ab6e101a34f27",
        512: "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
             "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb"}),
    (bytes(range(1, 26)), b"\xcd" * 50, {
        224: "6c11506874013cac6a2abc1bb382627cec6a90d86efc012de7afec5a",
        256: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        384: "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e"
             "6801dd23c4a7d679ccf8a386c674cffb",
        512: "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
             "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd"}),
    # test case 5: output truncated to 128 bits
    (b"\x0c" * 20, b"Test With Truncation", {
        224: "0e2aea68a90c8d37c988bcdb9fca6fa8",
        256: "a3b6167473100ee06e0c796c2955552b",
        384: "3abf34c3503b2a23a46efc619baef897",
        512: "415fad6271580a531d4179bc891d87a6"}),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First", {
        224: "95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e",
        256: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        384: "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
             "0c2ef6ab4030fe8296248df163f44952",
        512: "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
             "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"}),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than "
                    b"block-size data. The key needs to be hashed before being used by the "
                    b"HMAC algorithm.", {
        224: "3a854166ac5d9f023f54d517d0b39dbd946770db9c2b95c9f6f565d1",
        256: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        384: "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5"
             "a678cc31e799176d3860e6110c46523e",
        512: "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
             "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"}),
]


@pytest.mark.parametrize("case", range(1, 8))
def test_hmac_sha2_rfc4231(case):
    key, data, results = RFC4231[case - 1]
    for size, want in results.items():
        got = F("hmac_sha2", key, data, float(size))
        assert got[:len(want)] == want.encode(), (case, size)
        assert F("hmac_sha2", key, data, float(size), BINARY)[:len(want) // 2] == \
            bytes.fromhex(want)


def test_hmac_errors():
    with pytest.raises(ScriptError, match="224, 256, 384 or 512"):
        F("hmac_sha2", b"k", b"m", 1.0)
    with pytest.raises(ScriptError, match=r"hmac_md5\(\).*argument 1.*type"):
        F("hmac_md5", None, b"m")
    with pytest.raises(ScriptError, match=r"hmac_sha1\(\).*argument 2.*type"):
        F("hmac_sha1", b"k", HArray())
    assert F("hmac_md5", b"", b"") == b"74e6f7298a9c2d168935f58c001bad88"


# ---------------------------------------------------------------------- AES

NIST_PLAIN = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172a" "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef" "f69f2445df4f9b17ad2b417be66c3710")
IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
K128 = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
K192 = bytes.fromhex("8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b")
K256 = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
NIST = [
    # F.2.1, F.2.3, F.2.5 CBC
    (K128, b"cbc", "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
                   "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"),
    (K192, b"cbc", "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a"
                   "571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd"),
    (K256, b"cbc", "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
                   "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"),
    # F.1.1 ECB
    (K128, b"ecb", "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
                   "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4"),
]


@pytest.mark.parametrize("key,mode,cipher", NIST)
def test_aes_nist_sp800_38a(key, mode, cipher):
    o = opts(iv=IV, padding=False)
    ct = bytes.fromhex(cipher)
    assert F("aes_encrypt", NIST_PLAIN, key, mode, o) == ct
    assert F("aes_decrypt", ct, key, mode, o) == NIST_PLAIN
    # default PKCS#7 padding adds one full block after the NIST blocks
    padded = F("aes_encrypt", NIST_PLAIN, key, mode, opts(iv=IV))
    assert len(padded) == 80 and padded[:64] == ct
    assert F("aes_decrypt", padded, key, mode, opts(iv=IV)) == NIST_PLAIN


def test_aes_padding_and_errors():
    ct = F("aes_encrypt", b"hello", K128, b"cbc", opts(iv=IV))
    assert len(ct) == 16
    assert F("aes_decrypt", ct, K128, b"cbc", opts(iv=IV)) == b"hello"
    assert F("aes_encrypt", b"", K128, b"ecb") is not None
    assert F("aes_decrypt", F("aes_encrypt", b"", K128, b"ECB"), K128, b"ecb") == b""
    # none on error: bad key length, missing/short iv, unknown mode, bad padding
    assert F("aes_encrypt", b"x", b"short", b"ecb") is None
    assert F("aes_encrypt", b"x", K128 + b"x", b"ecb") is None
    assert F("aes_encrypt", b"x", K128, b"cbc") is None
    assert F("aes_encrypt", b"x", K128, b"cbc", opts(iv=b"123")) is None
    assert F("aes_encrypt", b"x", K128, b"gcm", opts(iv=IV)) is None
    assert F("aes_encrypt", b"x" * 15, K128, b"ecb", opts(padding=False)) is None
    assert F("aes_decrypt", b"x" * 15, K128, b"ecb") is None
    wrong = F("aes_decrypt", ct, K256, b"cbc", opts(iv=IV))
    assert wrong != b"hello"
    with pytest.raises(ScriptError, match="type"):
        F("aes_encrypt", 1.0, K128, b"ecb")
    with pytest.raises(ScriptError, match="type"):
        F("aes_encrypt", b"x", K128, b"ecb", opts(padding=b"no"))


# ---------------------------------------------------------------- Ed25519

RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
     "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da0"
     "85ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac1"
     "8ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]


@pytest.mark.parametrize("sk,pk,msg,sig", RFC8032)
def test_ed25519_rfc8032(sk, pk, msg, sig):
    sk, pk, msg, sig = map(bytes.fromhex, (sk, pk, msg, sig))
    assert F("ed25519_sign", msg, sk) == sig
    assert F("ed25519_verify", msg, sig, pk) is True
    assert F("ed25519_verify", msg + b"x", sig, pk) is False
    bad = bytes([sig[0] ^ 1]) + sig[1:]
    assert F("ed25519_verify", msg, bad, pk) is False
    # the same key through a PEM resource
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    pem = ed25519.Ed25519PrivateKey.from_private_bytes(sk).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    res = F("ed25519_privatekey", pem)
    assert F("is_ed25519_privatekey", res) is True
    assert F("is_rsa_privatekey", res) is False
    assert F("ed25519_sign", msg, res) == sig


def test_ed25519_errors():
    assert F("ed25519_sign", b"m", b"short") is None
    assert F("ed25519_verify", b"m", b"\0" * 64, b"short") is None
    assert F("ed25519_verify", b"m", b"short", b"\x01" * 32) in (False, None)
    assert F("ed25519_privatekey", b"not a key") is None
    assert F("is_ed25519_privatekey", b"x") is False
    with pytest.raises(ScriptError, match="type"):
        F("ed25519_sign", b"m", 1.0)


# -------------------------------------------------------------- RSA and EC

@pytest.fixture(scope="module")
def rsa_key():
    from cryptography.hazmat.primitives.asymmetric import rsa
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key, fmt):
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def test_rsa_sign_verify(rsa_key):
    from cryptography.hazmat.primitives import serialization as s
    pem = _pem(rsa_key, s.PrivateFormat.TraditionalOpenSSL)
    res = F("rsa_privatekey", pem)
    assert F("is_rsa_privatekey", res) is True
    assert F("is_ec_privatekey", res) is False
    pub = rsa_key.public_key()
    der_pkcs1 = pub.public_bytes(s.Encoding.DER, s.PublicFormat.PKCS1)
    der_spki = pub.public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
    pem_spki = pub.public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo)
    sig = F("rsa_sign", b"hello", res)
    assert len(sig) == 256
    # PKCS#1 v1.5 is deterministic: the same key and message give the same signature
    assert F("rsa_sign", b"hello", res) == sig
    assert F("rsa_verify", b"hello", sig, der_pkcs1) is True
    assert F("rsa_verify", b"hello!", sig, der_pkcs1) is False
    assert F("rsa_verify", b"hello", sig, der_spki,
             opts(format=b"SubjectPublicKeyInfo")) is True
    assert F("rsa_verify", b"hello", sig, pem_spki,
             opts(format=b"SubjectPublicKeyInfo", pem=True)) is True
    # hash option must match
    sig1 = F("rsa_sign", b"hello", res, opts(hash=b"sha1"))
    assert F("rsa_verify", b"hello", sig1, der_pkcs1, opts(hash=b"sha1")) is True
    assert F("rsa_verify", b"hello", sig1, der_pkcs1) is False
    # key text: DER by default, PEM with pem=true, PKCS#8 with format PrivateKeyInfo
    der = rsa_key.private_bytes(s.Encoding.DER, s.PrivateFormat.TraditionalOpenSSL,
                                s.NoEncryption())
    assert F("rsa_sign", b"hello", der) == sig
    assert F("rsa_sign", b"hello", pem, opts(pem=True)) == sig
    p8 = rsa_key.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())
    assert F("rsa_sign", b"hello", p8, opts(format=b"PrivateKeyInfo")) == sig
    # errors
    assert F("rsa_sign", b"hello", b"garbage") is None
    assert F("rsa_verify", b"hello", sig, b"garbage") is None
    assert F("rsa_privatekey", b"garbage") is None
    with pytest.raises(ScriptError, match="hash"):
        F("rsa_sign", b"hello", res, opts(hash=b"whirlpool"))
    with pytest.raises(ScriptError, match="not available"):
        F("rsa_sign", b"hello", b"x", opts(id=b"key1"))
    with pytest.raises(ScriptError, match="not available"):
        F("rsa_sign", b"hello", b"x", opts(id=True))
    # id false is the default, said out loud (the ARC module of halon-extras does)
    assert F("rsa_sign", b"hello", res, opts(id=False)) == sig
    assert F("rsa_verify", b"hello", sig, der_pkcs1, opts(id=False)) is True
    with pytest.raises(ScriptError, match="type"):
        F("rsa_sign", b"hello", 1.0)


def test_ec_privatekey(rsa_key):
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    res = F("ec_privatekey", _pem(key, s.PrivateFormat.PKCS8))
    assert F("is_ec_privatekey", res) is True
    assert F("is_rsa_privatekey", res) is False
    # an RSA key is not an EC key and vice versa
    assert F("ec_privatekey", _pem(rsa_key, s.PrivateFormat.PKCS8)) is None
    assert F("rsa_privatekey", _pem(key, s.PrivateFormat.PKCS8)) is None
    assert F("is_ec_privatekey", None) is False


# ------------------------------------------------------------ PKCS#7 / CMS

@pytest.fixture(scope="module")
def cert_and_key(rsa_key):
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hsl test")])
    now = datetime.datetime(2024, 1, 1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(rsa_key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(rsa_key, hashes.SHA256()))
    return cert, rsa_key


def test_pkcs7_and_cms(cert_and_key):
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.serialization import pkcs7
    cert, key = cert_and_key
    cert_pem = cert.public_bytes(s.Encoding.PEM)
    bundle = cert_pem + _pem(key, s.PrivateFormat.PKCS8)
    for fn in ("pkcs7_sign", "cms_sign"):
        der = F(fn, b"message", bundle)
        if fn == "cms_sign":            # Halon's cms_* answer ["result" => ..., ...]
            assert der.get(b"result") is True
            der = der.get(b"data")
        assert der[:1] == b"\x30"           # DER SEQUENCE
        assert pkcs7.load_der_pkcs7_certificates(der)[0] == cert
        assert b"message" not in der        # detached by default
        attached = F(fn, b"message", bundle, opts(detached=False))
        assert b"message" in (attached if fn == "pkcs7_sign" else attached.get(b"data"))
    arr = HArray.from_pairs([(b"x509", cert_pem),
                             (b"privatekey", F("rsa_privatekey",
                                               _pem(key, s.PrivateFormat.PKCS8)))])
    assert F("pkcs7_sign", b"m", arr)[:1] == b"\x30"
    assert F("pkcs7_sign", b"m", b"-----BEGIN nothing") is None
    assert F("cms_sign", b"m", b"-----BEGIN nothing").get(b"result") is False
    with pytest.raises(ScriptError, match="not available"):
        F("pkcs7_sign", b"m", b"configured-id")
    # CMS encrypt / decrypt round trip; decrypt takes the certificate as cms_sign does
    enc = F("cms_encrypt", b"secret text", HArray.from_pairs(
        [(b"certs", HArray.from_list([cert_pem]))]))
    assert enc.get(b"result") is True
    data = enc.get(b"data")
    assert data[:1] == b"\x30" and b"secret text" not in data
    assert F("cms_type", data) == b"pkcs7-envelopedData"
    for pki in (bundle, arr):
        dec = F("cms_decrypt", data, pki)
        assert (dec.get(b"result"), dec.get(b"data"), dec.get(b"cms")) == \
            (True, b"secret text", b"data")
    # sign, then encrypt: the plaintext is a SignedData ("cms" => "signed")
    signed = F("cms_sign", b"inner", arr, opts(detached=False)).get(b"data")
    enc = F("cms_encrypt", signed, HArray.from_pairs([(b"certs", HArray.from_list([cert_pem]))]))
    assert F("cms_decrypt", enc.get(b"data"), arr).get(b"cms") == b"signed"
    bad = F("cms_decrypt", b"junk", bundle)
    assert bad.get(b"result") is False and bad.get(b"error") is not None
    assert F("cms_encrypt", b"x", HArray()).get(b"result") is False


def test_cms_verify_arity():
    # tests/test_builtins_cms.py tests what it does.
    assert F("cms_verify", b"sig", None, HArray()).get(b"result") is False
    b = FUNCTIONS["cms_verify"]
    assert (b.min_args, b.max_args) == (3, 4)


# ------------------------------------------------------------ randomness

def test_random_bytes():
    assert F("random_bytes", 0.0) == b""
    assert len(F("random_bytes", 16.0)) == 16
    assert len(F("random_bytes", 16.9)) == 16
    assert len(F("random_bytes", 1048576.0)) == 1048576
    with pytest.raises(ScriptError):
        F("random_bytes", 1048577.0)
    with pytest.raises(ScriptError):
        F("random_bytes", -1.0)
    with pytest.raises(ScriptError, match="type"):
        F("random_bytes", b"16")


def test_random_number():
    for _ in range(200):
        x = F("random_number")
        assert type(x) is float and 0.0 <= x <= 1.0
        n = F("random_number", 1.0, 6.0)
        assert type(n) is float and n in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    assert F("random_number", 5.0, 5.0) == 5.0
    assert F("random_number", -3.0, -3.0) == -3.0
    seen = {F("random_number", 0.0, 1.0) for _ in range(200)}
    assert seen == {0.0, 1.0}
    with pytest.raises(ScriptError):
        F("random_number", 1.0)
    with pytest.raises(ScriptError, match="type"):
        F("random_number", b"1", 2.0)


def test_uuid():
    u = F("uuid")
    assert re.fullmatch(rb"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        u)
    assert F("uuid") != u


def test_uuidv5_rfc9562():
    dns = b"6ba7b810-9dad-11d1-80b4-00c04fd430c8"
    assert F("uuidv5", dns, b"www.example.com") == b"2ed6657d-e927-568b-95e1-2665a8aea6a2"
    # upper-case / braced namespace text is accepted
    assert F("uuidv5", dns.upper(), b"www.example.com") == \
        b"2ed6657d-e927-568b-95e1-2665a8aea6a2"
    assert F("uuidv5", dns, b"") != F("uuidv5", dns, b"x")
    with pytest.raises(ScriptError, match="not a valid UUID"):
        F("uuidv5", b"nope", b"x")
    with pytest.raises(ScriptError, match="type"):
        F("uuidv5", dns, 1.0)


# ------------------------------------------------------------------ crypt

# Ulrich Drepper, "Unix crypt using SHA-256 and SHA-512", test vectors
SHA_CRYPT = [
    (b"$5$saltstring", b"Hello world!",
     b"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"),
    (b"$5$rounds=10000$saltstringsaltstring", b"Hello world!",
     b"$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"),
    (b"$5$rounds=5000$toolongsaltstring", b"This is just a test",
     b"$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5"),
    (b"$5$rounds=1400$anotherlongsaltstring",
     b"a very much longer text to encrypt.  This one even stretches over morethan one line.",
     b"$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1"),
    (b"$5$rounds=77777$short", b"we have a short salt string but not a short password",
     b"$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/"),
    (b"$5$rounds=123456$asaltof16chars..", b"a short string",
     b"$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD"),
    (b"$5$rounds=10$roundstoolow", b"the minimum number is still observed",
     b"$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC"),
    (b"$6$saltstring", b"Hello world!",
     b"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbY"
     b"EdFCoEOfaS35inz1"),
    (b"$6$rounds=10000$saltstringsaltstring", b"Hello world!",
     b"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM"
     b"0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."),
    (b"$6$rounds=5000$toolongsaltstring", b"This is just a test",
     b"$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZx"
     b"Uhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"),
    (b"$6$rounds=1400$anotherlongsaltstring",
     b"a very much longer text to encrypt.  This one even stretches over morethan one line.",
     b"$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3Cm"
     b"Ls66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"),
    (b"$6$rounds=77777$short", b"we have a short salt string but not a short password",
     b"$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaU"
     b"eOxFmtlcGZelFl5CxtgfiAc0"),
    (b"$6$rounds=123456$asaltof16chars..", b"a short string",
     b"$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6yc"
     b"ULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1"),
    (b"$6$rounds=10$roundstoolow", b"the minimum number is still observed",
     b"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58j"
     b"aTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."),
]


@pytest.mark.parametrize("salt,key,want", SHA_CRYPT)
def test_crypt_sha_drepper(salt, key, want):
    assert F("crypt", key, salt) == want
    # checking a password against the stored hash
    assert F("crypt", key, want) == want


def test_crypt_md5_and_misc():
    assert F("crypt", b"password", b"$1$salt") == b"$1$salt$qJH7.N4xYta3aEG/dfqo/0"
    assert F("crypt", b"password", b"$1$salt$qJH7.N4xYta3aEG/dfqo/0") == \
        b"$1$salt$qJH7.N4xYta3aEG/dfqo/0"
    assert F("crypt", b"wrong", b"$1$salt$qJH7.N4xYta3aEG/dfqo/0") != \
        b"$1$salt$qJH7.N4xYta3aEG/dfqo/0"
    # salt longer than 8 is cut to 8 for MD5-crypt, to 16 for SHA-crypt
    assert F("crypt", b"x", b"$1$saltsaltsalt").startswith(b"$1$saltsalt$")
    assert F("crypt", b"test1234", b"$5$") == b"$5$$LTI8w5KsA5bMCaf3VTEMPeKckTBV4y9mN7la4rjh896"
    assert F("crypt", b"", b"$5$test1234") == \
        b"$5$test1234$UA0OvNpssFd2pcJm0sJ0ne3E6b518x/YEIPtJO8m841"
    with pytest.raises(ScriptError, match="type"):
        F("crypt", b"x", 1.0)


def test_crypt_system_schemes():
    # traditional DES crypt goes through the system libcrypt when there is one
    r = F("crypt", b"password", b"ab")
    assert r == b"*0" or (len(r) == 13 and r.startswith(b"ab"))
    assert F("crypt", b"password", b"$unknown$") in (b"*0",)
    assert F("crypt", b"password", b"*0") == b"*1"

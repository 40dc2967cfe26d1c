"""hsl check on the mail classes: unknown methods (HSL105) and wrong arities (HSL201) on
variables known to hold a MIME, MailMessage (MailMessage::String/File) or MIMEPart, and
queue() outside the eod hook (HSL302); a runtime error says the same."""
import textwrap

import pytest

import hsl
from hsl.check.checker import Options, check_source


def found(src, hook=None):
    return [(d.code, d.line, d.message) for d in
            check_source(textwrap.dedent(src), "t.hsl", Options(hook=hook))]


def test_unknown_methods_and_arities():
    assert found('''\
        $m = MailMessage::String("Subject: x\\r\\n\\r\\n");
        $m->getHeadr("subject");
        $m->getHeader();
        $m->setHeader("a", "b", [], 1);
        $m->getHeader("subject", ["index" => 1]);
        $f = MailMessage::File(File::String("x"));
        $f->toString(1);
        $b = MIME();
        $b->setBody("a", "b");
        $b->addHeader("X", "y")->setBody("z");
        $b->getHeader("x");
    ''') == [
        ("HSL105", 2, "MailMessage has no method getHeadr()"),
        ("HSL201", 3, "wrong number of arguments for MailMessage->getHeader(): "
                      "expected 1 to 2, got 0"),
        ("HSL201", 4, "wrong number of arguments for MailMessage->setHeader(): "
                      "expected 2 to 3, got 4"),
        ("HSL201", 7, "wrong number of arguments for MailMessage->toString(): "
                      "expected 0, got 1"),
        ("HSL201", 9, "wrong number of arguments for MIME->setBody(): expected 1, got 2"),
        ("HSL105", 11, "MIME has no method getHeader()"),
    ]


def test_every_documented_method_is_known():
    calls = {
        "MIME": "addHeader('a','b') appendPart(MIME()) setBody('x') setType('t/x') "
                "setBoundary('b') setDate() setDate(1) setFileName('f') setDisposition('d') "
                "toString() toFile() send('a',['b'],'c') signDKIM('s','d','k') "
                "signDKIM('s','d','k',[])",
        "MailMessage::String('')": "getID() getSize() getFileName() getType() "
                "getTypeParameter('n') getHeader('n') getHeader('n',[]) getHeaders('n') "
                "getHeaders('n',[]) getHeaderNames() getBody() getBody([]) getPreamble() "
                "getEpilogue() getParts() getByID('1') findByType('t') findByFileName('f') "
                "getErrors() setHeader('n','v') setHeader('n','v',[]) addHeader('n','v') "
                "addHeader('n','v',[]) delHeader('n') delHeader('n',[]) "
                "renameHeader('a','b') renameHeader('a','b',[]) setDateLater() remove() "
                "setBody('x') setBody('x',[]) setPreamble('x') setEpilogue('x') "
                "prependPart(MIME()) prependPart(MIME(),[]) appendPart(MIME()) "
                "appendPart(MIME(),[]) replacePart(MIME()) reset() snapshot() restore(0) "
                "modifyContent(0,0,'') toFile() toString() signDKIM('s','d','k') "
                "verifyDKIM('f') verifyDKIM('f',[]) send('a',['b'],'c')",
    }
    for ctor, methods in calls.items():
        src = "".join(f"$x = {ctor};\n$x->{m};\n" for m in methods.split())
        assert found(src.replace("'", '"')) == [], ctor


def test_queue_is_only_in_the_eod_hook():
    src = '''\
        $m = MailMessage::String("Subject: x\\r\\n\\r\\n");
        $m->queue("a@example.org", "b@example.org", "mx");
        $b = MIME();
        $b->queue("a@example.org", "b@example.org", "mx", []);
    '''
    expected = [("HSL302", 2, "MailMessage->queue() is only available in the eod hook"),
                ("HSL302", 4, "MIME->queue() is only available in the eod hook")]
    assert found(src) == expected
    assert found(src, hook="rcptto") == expected
    assert found(src, hook="eod") == []
    assert found(src.replace('"mx")', '"mx", [], 1)'), hook="eod") == [
        ("HSL201", 2, "wrong number of arguments for MailMessage->queue(): "
                      "expected 3 to 4, got 5")]


def test_queue_outside_the_eod_hook_fails_at_run_time():
    with pytest.raises(hsl.HSLRuntimeError, match=r"queue\(\) is only available in the "
                                                  r"eod hook"):
        hsl.compile('$x = [MIME()]; $x[0]->queue("a", "b", "c");').run(
            output=lambda line: None)

# ruff: noqa: E501  (cases are copied verbatim)
"""Build ``secrets_outside.jsonl``: secret-detection cases copied from public rule sets and test
suites that the secret finder's author did not write (red-team check, issue 26).

Each row: ``text`` (verbatim from the source, or the source's value in the source's own context),
``secret`` (the substring a finding must cover, or ``null`` for a case the source lists as a false
positive), ``source`` (repository + path it was copied from). The file is frozen: regenerate only to
add cases, never to drop misses.

    python tests/data/make_secrets_outside.py
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

GL = "gitleaks/gitleaks:cmd/generate/config/rules/"
DS = "Yelp/detect-secrets:tests/plugins/"

ROWS: list[tuple[str, str | None, str]] = []


def tp(text: str, secret: str, source: str) -> None:
    assert secret in text, (text, secret)
    ROWS.append((text, secret, source))


def fp(text: str, source: str) -> None:
    ROWS.append((text, None, source))


# --- gitleaks curl.go (curl-auth-user) -------------------------------------------------------
S = GL + "curl.go"
tp("curl --cacert ca.crt -u elastic:P@ssw0rd$1 https://localhost:9200", "P@ssw0rd$1", S)
tp(
    "sh-5.0$ curl -k -X POST https://infinispan:11222/rest/v2/caches/default/hello \\\n"
    "  -H 'Content-type: text/plain' \\\n  -d 'world' \\\n  -u developer:yqDVtkqPECriaLRi",
    "yqDVtkqPECriaLRi",
    S,
)
tp('curl -u ":d2LkV78zLx!t" https://localhost:9200', "d2LkV78zLx!t", S)
tp(
    "curl -sw '%{http_code}' -X POST --user  'johns:h0pk1ns~21s' $GItHUB_API_URL/$GIT_COMMIT --data",
    "h0pk1ns~21s",
    S,
)
tp(
    "curl --user roger23@gmail.com:pQ9wTxu4Fg https://www.dropbox.com/cli_link?host_id=abcdefg -v",
    "pQ9wTxu4Fg",
    S,
)
tp(
    "curl -s --user 'api:d2LkV78zLx!t' \\\n"
    "    https://api.mailgun.net/v2/sandbox91d3515882ecfaa1c65be642.mailgun.org/messages",
    "d2LkV78zLx!t",
    S,
)
tp(
    'curl -s -v --user "j.smith:dB2yF6@qL9vZm1P#4J" "https://api.contoso.org/user/me"',
    "dB2yF6@qL9vZm1P#4J",
    S,
)
tp(
    'curl -X POST --user "{acd3c08b-74e8-4f44-a2d0-80694le24f46}":"{ZqL5kVrX1n8tA2}" --header '
    '"Accept: application/json" https://gateway.watsonplatform.net/language-translator/api',
    "ZqL5kVrX1n8tA2",
    S,
)
tp(
    "curl --user kevin:'pRf7vG2h1L8nQkW9' -iX PATCH -H \"Content-Type: application/json\" -d",
    "pRf7vG2h1L8nQkW9",
    S,
)
tp(
    "$ curl https://api.dropbox.com/oauth2/token \\\n"
    "  --user c28wlsosanujy2z:qgsnai0xokrw4j1 --data grant_type=authorization_code",
    "qgsnai0xokrw4j1",
    S,
)
for text in (
    "curl -i -u 'test:test'",
    '   curl -sL --user "$1:$2" "$3" > "$4"',
    "curl -u <user:password> https://test.com/endpoint",
    "curl --user neo4j:[PASSWORD] http://[IP]:7474/db/data/",
    'curl -u "myusername" http://localhost:15130/api/check_user/',
    "curl -u username:token",
    'curl -u "${_username}:${_password}"',
    'curl -u "${username}":"${password}"',
    'curl -k -X POST -I -u "SRVC_JENKINS:${APPID}"',
    'curl -u ":" https://localhost:9200',
    "curl -sw '%{http_code}' -X POST --user '$USERNAME:$PASSWORD' $GItHUB_API_URL/$GIT_COMMIT --data",
    'curl --user "xxx:yyy"',
    '           curl -sL --user "$GITHUB_USERNAME:$GITHUB_PASSWORD" "$GITHUB_URL" > "$TESTS_PATH"',
    "curl --silent --fail {{- if and $.Values.username $.Values.password }} --user "
    '"{{ $.Values.username }}:{{ $.Values.password }}"',
    'curl -XGET -i -u "${{ env.ELK_ID }}:${{ build.env.ELK_PASS }}"',
    'curl -XGET -i -u "${{needs.vault.outputs.account_id}}:${{needs.vault.outputs.account_password}}"',
    'curl -X POST --user "$(cat ./login.txt):$(cat ./password.txt)"',
    "curl http://127.0.0.1:5000/file --user user:pass --digest        # digest auth",
    '   curl -X GET --insecure --user "username:password" \\',
    "curl --silent --insecure --user ${f5user}:${f5pass} \\",
    'curl --insecure --ssl-reqd "smtps://smtp.gmail.com" --mail-from "src@gmail.com" --mail-rcpt '
    '"dst@gmail.com" --user "src@gmail.com" --upload-file out.txt',
):
    fp(text, S)

# --- gitleaks curl.go (curl-auth-header) -----------------------------------------------------
tp(
    "curl --header  'Authorization:  5eb4223e-5008-46e5-be67-c7b8f2732305'",
    "5eb4223e-5008-46e5-be67-c7b8f2732305",
    S,
)
tp(
    'curl -k -X POST --header "Authorization: Basic djJlNEpYa0NJUHZ5a2FWT0VRXzRqZmZUdDkwYTp2emNBZGFzZ'
    'WpmlWZiUDc2VUJjNDNNVDExclVh" "https://api-qa.example.com:8243/token" -d '
    '"grant_type=client_credentials"',
    "djJlNEpYa0NJUHZ5a2FWT0VRXzRqZmZUdDkwYTp2emNBZGFzZWpmlWZiUDc2VUJjNDNNVDExclVh",
    S,
)
tp(
    'curl -X POST -H "Content-Type: application/json" \\\n -H "Authorization: Basic MzUzYjMwMmM0NDU3'
    'NGY1NjUwNDU2ODdlNTM0ZTdkNmE6Mjg2OTI0Njk3ZTYxNWE2NzJhNjQ2YTQ5MzU0NTY0NmM=" \\\n'
    "  'http://localhost:8080/oauth2-provider/v1.0/users'",
    "MzUzYjMwMmM0NDU3NGY1NjUwNDU2ODdlNTM0ZTdkNmE6Mjg2OTI0Njk3ZTYxNWE2NzJhNjQ2YTQ5MzU0NTY0NmM=",
    S,
)
tp(
    "#curl -X POST \\\n#  https://api.mailgun.net/v3/sandbox7dbcabccd4314c123e8b23599d35f5b6.mailgun.org/"
    "messages \\\n#  -H 'Authorization: Basic YXBpOmtleS1hN2MzNDJ3MzNhNWQxLTU2M2U3MjlwLTZhYjI3YzYzNzM0N"
    "g==' \\\n#  -F to='joe@example.com' \\",
    "YXBpOmtleS1hN2MzNDJ3MzNhNWQxLTU2M2U3MjlwLTZhYjI3YzYzNzM0Ng==",
    S,
)
tp(
    '# curl -X GET "http://localhost:3000/api/cron/status" -H "Authorization: Bearer '
    'cfcabd11c7ed9a41b1a3e063c32d5114"',
    "cfcabd11c7ed9a41b1a3e063c32d5114",
    S,
)
tp(
    "curl -X PUT -H 'Authorization: Bearer jC+6TUUjCNHcVtAXpcqBCgxnA8r+qD6MatnYaf/+289y7HWpK0BWPyLHv/"
    "K4DMN32fufwmeVVjlo8zjgBh8kx3GfS6IqO70w1DVMSCTwX7fhEpiXaxzv0mhSMHDX9Kw63Q6DkavUWUV+MDNhCF5wGQrcdQ"
    "NncVRF3YkuDHDT/xw2YWyZ/DX8k+gAYiC8gcD8Ueg0ljBVS1IDwPjuGoFPESJVxYr0MDPF2D8Pn2S5rq692U4D9ZLuluS46V"
    "A4DK6ig5P7QM5XVXi4V7vXM8qpN/zqneyz+w4PUh6NIX7QG6JczMhYd9maWRWVat5jDdyII63P6sNAy9QZjw+ClW211Q==' "
    '-d \'user={"account":"user@domain.com"}\' http://127.0.0.1:8443/desks/1/occupy',
    "jC+6TUUjCNHcVtAXpcqBCgxnA8r+qD6MatnYaf",
    S,
)
tp(
    'curl https://api.openai.com/v1/chat/completions \\\n  -H "Content-Type: application/json" \\\n'
    '  -H "Authorization: Bearer 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" \\',
    "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",
    S,
)
tp(
    'curl -X GET "https://api.cloudflare.com/client/v4/user/tokens/verify" \\\n'
    '     -H "Authorization: Bearer _FXNljbSRYMWx3TWrd7lgKhLtVZX6iskC8Wcbb4b" \\\n'
    '     -H "Content-Type:application/json"',
    "_FXNljbSRYMWx3TWrd7lgKhLtVZX6iskC8Wcbb4b",
    S,
)
tp(
    'curl -H "Authorization: Bearer sha256~bRLFnzd59Z3XpZH5_seJPHALOuvbWiKwbFKSsoALkgp"',
    "sha256~bRLFnzd59Z3XpZH5_seJPHALOuvbWiKwbFKSsoALkgp",
    S,
)
tp(
    'curl -H "Authorization: Api-Token 22cb987851bc5659l29114c62e60c79abd0d2c08" --request PUT '
    "https://appsecclass.report/api/use/635",
    "22cb987851bc5659l29114c62e60c79abd0d2c08",
    S,
)
tp(
    'curl -H "Authorization: Token 22cb987851bc5659229114c62e60c79abd0d2c08" --request PUT '
    "https://appsecclass.report/api/use/635",
    "22cb987851bc5659229114c62e60c79abd0d2c08",
    S,
)
tp(
    'curl -L -H "Authorization:eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJjb25maWRlbmNlIjowLjh9.kvRPfjAhLh'
    'tRTczoRgctVGp7KY1QVH3UBZM-gM0x8ec" service1.local -> correct jwt ',
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJjb25maWRlbmNlIjowLjh9.kvRPfjAhLhtRTczoRgctVGp7KY1QVH3UBZM"
    "-gM0x8ec",
    S,
)
tp(
    'curl -X GET \\\n     -H "apikey: c4ed6c21-9dd5-4a05-8e3f-c56d1151cce8" \\\n'
    '     -H "Accept: application/json" \\',
    "c4ed6c21-9dd5-4a05-8e3f-c56d1151cce8",
    S,
)
tp('curl -X POST --header "Api-Token: Sk94HG7f6KB"', "Sk94HG7f6KB", S)
tp(
    'curl -XPOST http://localhost:8080/api/tasks -H "Content-Type: application/x-www-form-urlencoded;'
    ' charset=UTF-8" -H "Token: 3fea6af1349166ea" -d "content=hello-curl"',
    "3fea6af1349166ea",
    S,
)
tp(
    'curl -X GET https://octopus.corp.net/\n     -H "X-Octopus-ApiKey: '
    '3a16750d-d363-41a4-8ebd-035408f7730f" \\',
    "3a16750d-d363-41a4-8ebd-035408f7730f",
    S,
)
for text in (
    'curl https://example.com/micropub -d h=entry -d "content=Hello World" -H "Authorization: '
    'Bearer XXXXXXXXXXXX"',
    "curl -X POST https://accounts.spotify.com/api/token -d grant_type=client_credentials --header "
    '"Authorization: Basic ..."',
    'curl \\\n  -H "Authorization: Bearer <Openverse API token>" \\\n'
    '  "https://api.openverse.org/v1/audio/?q=test"',
    "curl -v -v -v -X POST https://domain/api/v1/authentication/sso/login-url/ \\\n"
    "  -H 'Content-Type: application/json' \\\n  -H \"Authorization: Token **********\" \\\n"
    '  -d \'{"username": "test", "next": "/luna/"}\'',
    'curl -XPOST http://localhost:8080/api/token -H "Authorization: basic {base64(email:password'
    '[\\n])}" => token',
    'curl -X GET \\\n     -H "apikey: $API_KEY" \\\n     -H "Accept: $FORMAT" \\\n'
    '"$API_URL/rest/v1/stats_derniere_labellisation"',
    '$ curl -X POST "http://localhost:8000/v1/chat/completions" \\\n'
    '    -H "Content-Type: application/json" \\\n    -H "Authorization: Bearer $API_KEY" \\\n'
    '    -d \'{"model": "chatglm3-6b-32k"}\'',
    'curl -X GET -H "Content-Type: application/json" -H "Authorization: Bearer $(gcloud auth '
    'print-access-token)" https://workflowexecutions.googleapis.com/v1/projects/244283331594/'
    "locations/us-central1/workflows/sample-workflow/executions/43c925aa-514a-44c1-a0a4-a9f8f26fd2cb"
    "/callbacks/1705791f-d446-4e92-a6d0-a13622422e80_31864a51-8c13-4b03-ad4d-945cdc8d0631",
):
    fp(text, S)

# --- gitleaks generic.go ---------------------------------------------------------------------
S = GL + "generic.go"
tp(
    '"client_secret" : "6da89121079f83b2eb6acccf8219ea982c3d79bccc3e9c6a85856480661f8fde",',
    "6da89121079f83b2eb6acccf8219ea982c3d79bccc3e9c6a85856480661f8fde",
    S,
)
tp('generic_secret = "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB"', "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB", S)
fp("client_vpn_endpoint_id = aws_ec2_client_vpn_endpoint.client-vpn-endpoint.id", S)
fp("password combination.\n\nR5: Regulatory--21", S)

# --- gitleaks aws.go -------------------------------------------------------------------------
S = GL + "aws.go"
tp('aws_access_key_id = "AKIALALEMEL33243OLIB"', "AKIALALEMEL33243OLIB", S)
fp("key = AKIAXXXXXXXXXXXXXXXX", S)
fp("aws_access_key: AKIAIOSFODNN7EXAMPLE", S)
fp('msgstr "Näytä asiakirjamallikansio."', S)
fp("TODAYINASIAASACKOFRICEFELLOVER", S)

# --- gitleaks jwt.go -------------------------------------------------------------------------
S = GL + "jwt.go"
_JWT = (
    "eyJhbGciOieeeiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwic3ViZSI6"
    "IjEyMzQ1Njc4OTAiLCJuYW1lZWEiOiJKb2huIERvZSIsInN1ZmV3YWZiIjoiMTIzNDU2Nzg5MCIsIm5hbWVmZWF3ZnciOiJK"
    "b2huIERvZSIsIm5hbWVhZmV3ZmEiOiJKb2huIERvZSIsInN1ZndhZndlYWIiOiIxMjM0NTY3ODkwIiwibmFtZWZ3YWYiOiJK"
    "b2huIERvZSIsInN1YmZ3YWYiOiIxMjM0NTY3ODkwIiwibmFtZndhZSI6IkpvaG4gRG9lIiwiaWZ3YWZhYXQiOjE1MTYyMzkw"
    "MjJ9.a_5icKBDo-8EjUlrfvz2k2k-FYaindQ0DEYNrlsnRG0"
)
tp("JWT := " + _JWT, _JWT, S)

# --- gitleaks kubernetes.go (data values of a kind: Secret) ----------------------------------
S = GL + "kubernetes.go"
tp(
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: heketi-secret\n  namespace: default\ndata:\n"
    '  # base64 encoded password. E.g.: echo -n "mypassword" | base64\n  key: bXlwYXNzd29yZA==',
    "bXlwYXNzd29yZA==",
    S,
)
tp(
    "apiVersion: v1\ndata:\n\tpassword: UyFCXCpkJHpEc2I9\n\tusername: YWRtaW4=\nkind: Secret\n"
    "metadata:\n\tcreationTimestamp: '2022-06-28T17:44:13Z'\n\tname: db-user-pass\n"
    "\tnamespace: default\ntype: Opaque",
    "UyFCXCpkJHpEc2I9",
    S,
)
tp(
    "apiVersion: 'v1'\nkind: 'Secret'\ndata:\n\tpassword: 'UyFCXCpkJHpEc2I9'\n\tusername: 'YWRtaW4='\n"
    "metadata:\n\tname: 'db-user-pass'\n\tnamespace: 'default'\ntype: 'Opaque'",
    "UyFCXCpkJHpEc2I9",
    S,
)
tp(
    "apiVersion: v1\nkind: secret\ndata:\n\textra: YWRtaW46cGFzc3dvcmQ=\nmetadata:\n"
    "\tname: secret-sa-sample",
    "YWRtaW46cGFzc3dvcmQ=",
    S,
)
fp(
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: registry-auth-data\ntype: Opaque\ndata:\n"
    "  htpasswd: ''\n",
    S,
)
fp(
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: registry-auth-data\ntype: Opaque\ndata:\n"
    "  htpasswd: {{ htpasswd }}\n",
    S,
)
fp(
    "apiVersion: v1\n data:\n \tpassword: {{ .Values.Password }}\n kind: secret\n metadata:\n"
    " \tname: secret-sa-sample",
    S,
)
fp(
    "apiVersion: external-secrets.io/v1beta1\nkind: ExternalSecret\nmetadata:\n  name: api-key\n"
    "spec:\n  data:\n    - secretKey: api-key\n      remoteRef:\n        key: my-secrets-manager-secret",
    S,
)

# --- detect-secrets keyword_test.py ----------------------------------------------------------
S = DS + "keyword_test.py"
_KW = "{{h}o)p${e]nob(ody[finds>-_$#thisone}}"
for text in (
    'apikey := "' + _KW + '"',
    "apikey:='" + _KW + "'",
    "apikey := " + _KW,
    "'theapikey': '" + _KW + "'",
    '"theapikey": "' + _KW + '"',
    'apikey: "' + _KW + '"',
    "apikey: " + _KW,
    'apikey = @"' + _KW + '"',
    'apikey[]= "' + _KW + '"',
    'some_dict["secret"] = "' + _KW + '"',
    'the_password= "' + _KW + '"\n',
    "my_password=" + _KW,
    'apikey "' + _KW + '";',
    "private_key '" + _KW + "';",
):
    tp(text, _KW, S)
for text in (
    'theapikey := ""',
    'theapikey := "somefakekey"',
    'theapikey: ""',
    'theapikey: "somefakekey"',
    "password: ${link}",
    'theapikey[] = ""',
    'theapikey = @"somefakekey"',
    'my_password = ""',
    "my_password = ''",
    'my_password = "fakesecret"',
    'open(self, password = ""):',
    "my_password = foo(hey)you",
    "my_password = request.json_body['hey']",
    "my_password = True",
    "login(username=username, password=password)",
    'private_key "";',
    'private_key "fake";',
    "apiKey: this.apiKey,",
    "apiKey: fs.readFileSync('foo',",
    "$password = $input;",
):
    fp(text, S)

# --- detect-secrets slack_test.py / jwt_test.py / basic_auth_test.py -------------------------
S = DS + "slack_test.py"
for tok in (
    "xoxp-523423-234243-234233-e039d02840a0b9379c",
    "xoxo-523423-234243-234233-e039d02840a0b9379c",
    "xoxs-523423-234243-234233-e039d02840a0b9379c",
    "xoxa-511111111-31111111111-3111111111111-e039d02840a0b9379c",
    "xoxa-2-511111111-31111111111-3111111111111-e039d02840a0b9379c",
    "xoxr-523423-234243-234233-e039d02840a0b9379c",
    "xoxb-34532454-e039d02840a0b9379c",
):
    tp(tok, tok, S)
S = DS + "jwt_test.py"
for tok in (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0Ij"
    "oxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "eyJ0eXAiOiJKV1QiLA0KImFsZyI6IkhTMjU2In0.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0"
    "IjoxNTE2MjM5MDIyfQ",
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJuYW1lIjoiSm9lIiwKInN0YXR1cyI6ImVtcGxveWVlIgp9",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IsWww6HFkcOtIMOWxZHDqcOoI"
    "iwiaWF0IjoxNTE2MjM5MDIyfQ.k5HibI_uLn_RTuPcaCNkaVaQH2y5q6GvJg8GPpGMRwQ",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0Ijox"
    "NTE2MjM5MDIyfQ",
):
    tp(tok, tok, S)
for text in (
    '{"alg":"HS256","typ":"JWT"}.{"name":"Jon Doe"}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
    "bm90X3ZhbGlkX2pzb25fYXRfYWxs.bm90X3ZhbGlkX2pzb25fYXRfYWxs.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQ"
    "ssw5c",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
    "eyJhbasdGciOiJIUaddasdasfsasdasdzI1NiIasdsInR5cCI6IkpXVCasdJasd9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmF"
    "tZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "eyJAAAA.eyJBBB",
    "eyJBB.eyJCC.eyJDDDD",
):
    fp(text, S)
S = DS + "basic_auth_test.py"
fp("http://localhost:5000/<%= @variable %>", S)

# --- detect-secrets stripe_key_test.py / aws_key_test.py / private_key_test.py ---------------
S = DS + "stripe_key_test.py"
tp("sk_live_ReTllpYQYfIZu2Jnf2lAPFjD", "sk_live_ReTllpYQYfIZu2Jnf2lAPFjD", S)
tp("rk_live_5TcWfjKmJgpql9hjpRnwRXbT", "rk_live_5TcWfjKmJgpql9hjpRnwRXbT", S)
fp("pk_live_j5krY8XTgIcDaHDb3YrsAfCl", S)
fp("sk_live_", S)
S = DS + "aws_key_test.py"
fp("akiazzzzzzzzzzzzzzzz", S)
fp("AKIAZZZ", S)
S = DS + "private_key_test.py"
_PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "c3VwZXIgZHVwZXIgc2VjcmV0IHBhc3N3b3JkLCBzdXBlciBkdXBlciBzZ\n"
    "WNyZXQgcGFzc3dvcmQhMTIzNCMkJQpzdXBlciBkdXBlciBzZWNyZXQgcGFzc3"
    "dvcmQsIHN1cGVyIGR1cGVyIHNlY3JldCBwYXNzd29yZCExMjM0IyQlCgo=\n"
    "-----END RSA PRIVATE KEY-----"
)
tp(json.dumps(_PEM), "c3VwZXIgZHVwZXIgc2VjcmV0IHBhc3N3b3JkLCBzdXBlciBkdXBlciBzZ", S)
_PEM2 = (
    "some text here\n-----BEGIN PRIVATE KEY-----\n"
    "c3VwZXIgZHVwZXIgc2VjcmV0IHBhc3N3b3JkLCBzdXBlciBkdXBlciBzZWNyZXQgcGFzc3"
    "dvcmQhMTIzNCMkJQpzdXBlciBkdXBlciBzZWNyZXQgcGFzc3dvcmQsIHN1cGVyIGR1cGVy"
    "IHNlY3JldCBwYXNzd29yZCExMjM0IyQlCgo=\n-----END PRIVATE KEY-----"
)
tp(_PEM2, "IHNlY3JldCBwYXNzd29yZCExMjM0IyQlCgo=", S)

# --- gitleaks slack.go -----------------------------------------------------------------------
S = GL + "slack.go"
for name, tok in (
    ("bot_token1", "xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD"),
    ("bot_token2", "xoxb-263594206564-2343594206574-FGqddMF8t08v8N7Oq4i57vs1MBS"),
    ("bot_token3", "xoxb-4614724432022-5152386766518-O5WzjWGLG0wcCm2WPrjEmnys"),
    ("user_token1", "xoxp-41684372915-1320496754-45609968301-e708ba56e1517a99f6b5fb07349476ef"),
    ("user_token2", "xoxp-283316862324-298911817009-298923149681-44f585044dace54f5701618e97cd1c0b"),
    (
        "user_token5",
        "xoxp-4614724432022-4621207627011-5182682871568-1ddad9823e8528ad0f4944dfa3c6fc6c",
    ),
    (
        "token1",
        "xapp-1-A052FGTS2DL-5171572773297-610b6a11f4b7eb819e87b767d80e6575a3634791acb9a9ead051da879e"
        "b5b55e",
    ),
    (
        "access_token1",
        "xoxe.xoxp-1-Mi0yLTM0MTQwNDE0MDE3Ni0zNjU5NDY0Njg4MTctNTE4MjA3NTQ5NjA4MC01NDEyOTYyODY5NzUxLThh"
        "MTBjZmI1ZWIzMGIwNTg0ZDdmMDI5Y2UxNzVlZWVhYzU2ZWQyZTZiODNjNDZiMGUxMzRlNmNjNDEwYmQxMjQ",
    ),
    (
        "refresh_token1",
        "xoxe-1-My0xLTMxNzcwMjQ0MTcxMy01MTU4MTUyNjkxNzE0LTUxODE4NDI0MDY3MzYtMjA5MGFkOTFlZThkZWE2OGFl"
        "ZDYwYWJjODNhYzAxYjA5ZjVmODBhYjgzN2QyNDdjOTNlOGY5NTg2YWM1OGM4Mg",
    ),
    ("bot_token1", "xoxb-263594206564-FGqddMF8t08v8N7Oq4i57vs1"),
    ("bot_token2", "xoxb-282029623751-BVtmnS3BQitmjZvjpQL7PSGP"),
    ("bot_token4", "xoxb-123456789012-Xw937qtWSXJss1lFaKe"),
    ("bot_token9", "xoxb-50014434-slacktokenx29U9X1bQ"),
    ("access_token", "xoxa-2-511111111-31111111111-3111111111111-e039d02840a0b9379c"),
    ("access_token1", "xoxs-3206092076-3204538285-3743137121-836b042620"),
    (
        "access_token3",
        "xoxs-420083410720-421837374423-440811613314-977844f625b707d5b0b268206dbc92cbc85feef3e71b08e44"
        "815a8e6e7657190",
    ),
):
    tp(f'"{name}": "{tok}"', tok, S)
tp(
    '"url_private": "https:\\/\\/files.slack.com\\/files-pri\\/T04MCQMEXQ9-F04MAA1PKE3\\/image.png?'
    't=xoxe-4726837507825-4848681849303-4856614048758-e0b1f3d4cb371f92260edb0d9444d206"',
    "xoxe-4726837507825-4848681849303-4856614048758-e0b1f3d4cb371f92260edb0d9444d206",
    S,
)
for text in (
    "xoxb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx",
    "xoxb-xxx",
    "xoxb-12345-abcd234",
    "xoxb-xoxb-my-bot-token",
    "https://docs.google.com/document/d/1W7KCxOxP-1Fy5EyF2lbJGE2WuKmu5v0suYqoHas1jRM",
    '"token1": "xoxp-1234567890"',
    '"token2": "xoxp-XXXXXXXXXX-XXXXXXXXXX-XXXXXXXXXXX-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"',
    '"token4": "xoxp-572370529330-573807301142-572331691188-####################"',
    "xoxe.xoxp-1-SlackAppConfigurationAccessTokenHere",
    "xoxe.xoxp-1-RANDOMSTRINGHERE",
    "xoxe.xoxp-1-initial",
    "xoxe-1-xxx",
    "XOxE-RROAmw, Home and Garden, 5:24, 20120323",
    "xoxb-xxxxxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx",
    "xoxb-Slack_BOT_TOKEN",
    "xoxb-abcdef-abcdef",
    "https://github.com/xoxa-nyc/xoxa-nyc.github.io/blob/master/README.md",
    "https://indieweb.org/images/3/35/2018-250-xoxo-indieweb-1.jpg",
):
    fp(text, S)

# --- gitleaks gcp.go -------------------------------------------------------------------------
S = GL + "gcp.go"
tp("AIzaSyNHxIf32IQ1a1yjl3ZJIqKZqzLAK1XhDk-", "AIzaSyNHxIf32IQ1a1yjl3ZJIqKZqzLAK1XhDk", S)
for text in (
    "GWw4hjABFzZCGiRpmlDyDdo87Jn9BN9THUA47muVRNunLxsa82tMAdvmrhOqNkRKiYMEAFbTJAIzaTesb6Tscfcni8vIpWZ"
    "qNCXFDFslJtVSvFDq",
    "AIzaTesb6Tscfcni8vIpWZqNCXFDFslJtVSvFDqabcd123",
    'apiKey: "AIzaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"',
    "AIZASYCO2CXRMC9ELSKLHLHRMBSWDEVEDZTLO2O",
    "AIzaSyabcdefghijklmnopqrstuvwxyz1234567",
):
    fp(text, S)

# --- gitleaks hashicorp_vault.go -------------------------------------------------------------
S = GL + "hashicorp_vault.go"
tp("token: s.ZC9Ecf4M5g9o34Q6RkzGsj0z", "s.ZC9Ecf4M5g9o34Q6RkzGsj0z", S)
_HVS = (
    "hvs.CAESIP2jTxc9S2K7Z6CtcFWQv7-044m_oSsxnPE1H3nF89l3GiYKHGh2cy5sQmlIZVNyTWJNcDRsYWJpQjlhYjVlb1cQ"
    "h6PL8wEYAg"
)
tp("-vaultToken " + _HVS + '"', _HVS, S)
_HVB = (
    "hvb.AAAAAQJgxDgqsGNorpoOR7hPZ5SU-ynBvCl764jyRP_fnX7WvkdkDzGjbLNGdPdtlY33Als2P36yDZueqzfdGw9RsaTe"
    "aYXSH7E4RYSWuRoQ9YRKIw8o7mDDY2ZcT3KOB7RwtW1w1FN2eDqcy_sbCjXPaM1iBVH-mqMSYRmRd2nb5D1SJPeBzIYRqSglL"
    "c31wUGN7xEzyrKUczqOKsIcybQA"
)
tp(_HVB, _HVB, S)
for text in (
    "  credentials: new AWS.SharedIniFileCredentials({ profile: '<YOUR_PROFILE>' })",
    "INFO 4 --- [           main] o.s.b.f.s.DefaultListableBeanFactory     : Overriding bean "
    "definition for bean",
    "s.xxxxxxxxxxxxxxxxxxxxxxxx",
    "s.THISSTRINGISALLUPPERCASE",
    "s.thisstringisalllowercase",
    "s.AcceptanceTimeoutSeconds ",
    "s.makeKubeConfigController = args",
    "hvs." + "x" * 98,
):
    fp(text, S)

# --- gitleaks gitlab.go: one value of each documented prefix (regex from the rule, fixed seed) --
S = GL + "gitlab.go"
_rng = random.Random(26)
_AN = string.ascii_letters + string.digits


def _r(n: int, chars: str = _AN) -> str:
    return "".join(_rng.choice(chars) for _ in range(n))


for tok in (
    "glcbt-" + _r(5) + "_" + _r(20),
    "gldt-" + _r(20),
    "glffct-" + _r(20),
    "glft-" + _r(20),
    "glimt-" + _r(25),
    "glagent-" + _r(50),
    "gloas-" + _r(64),
    "glpat-" + _r(20),
    "glpat-"
    + _r(27)
    + "."
    + _r(2, "0123456789abcdefghijklmnopqrstuvwxyz")
    + _r(7, "0123456789abcdefghijklmnopqrstuvwxyz"),
    "glptt-" + _r(40, "0123456789abcdef"),
    "GR1348941" + _r(20),
    "glrt-" + _r(20),
    "glsoat-" + _r(20),
):
    tp(f"gitlab_token: {tok}", tok, S)
_SESSION = _r(32, "0123456789abcdefghijklmnopqrstuvwxyz")
tp("Cookie: _gitlab_session=" + _SESSION, _SESSION, S)
for text in (
    "glpat-XXXXXXXXXXX-XXXXXXXX",
    "glpat-xxxxxxxx-xxxxxxxxxxxxxxxxxx.xxxxxxxxx",
    "glptt-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "GR134894112312312312312312312",
    "GR1348941XXXXXXXXXXXXXXXXXXXX",
    "glrt-tx_xxxxxxxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxx",
):
    fp(text, S)

# --- round 2, gathered after the fixes above and measured before any further change ---------
S = DS + "gitlab_token_test.py"
tp("glpat-hellOworld380_testin", "glpat-hellOworld380_testin", S)
tp("gldt-HwllOuhfw-wu0rlD_yep", "gldt-HwllOuhfw-wu0rlD_yep", S)
tp(
    "glsoat-PREfix_helloworld380_testin_pretty_long_token_long",
    "glsoat-PREfix_helloworld380_testin_pretty_long_token_long",
    S,
)
fp("glpat-hellOWorld380 testin", S)
fp("glpat_hellOworld380_testin", S)
fp("gldt-seems_too000Sshorty", S)
fp("foo_hello-world80_testin", S)
S = DS + "openai_test.py"
tp(
    "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",
    "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",
    S,
)
tp(
    "sk-proj-Xi8tdMjHV6pmbBbwilTeT3BlbkFJ3UDnpdEwNNm6wVBpYM0o",
    "sk-proj-Xi8tdMjHV6pmbBbwilTeT3BlbkFJ3UDnpdEwNNm6wVBpYM0o",
    S,
)
S = DS + "github_token_test.py"
tp("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", "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", S)
fp("foo_wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINUx", S)
S = DS + "telegram_token_test.py"
tp(
    "bot110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsaw",
    "110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsaw",
    S,
)
tp(
    "110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsaw",
    "110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsaw",
    S,
)
tp(
    "7213808860:AAH1bjqpKKW3maRSPAxzIU-0v6xNuq2-NjM",
    "7213808860:AAH1bjqpKKW3maRSPAxzIU-0v6xNuq2-NjM",
    S,
)
fp("foo:AAH1bjqpKKW3maRSPAxzIU-0v6xNuq2-NjM", S)

# --- round 3, gathered after round 2's fixes and measured before any further change ---------
S = GL + "anthropic.go"
for tok in (
    "sk-ant-api03-abc123xyz-456def789ghij-klmnopqrstuvwx-3456yza789bcde-1234fghijklmnopby56aaaogaopaaaabc123xyzAA",
    "sk-ant-admin01-abc12fake-456def789ghij-klmnopqrstuvwx-3456yza789bcde-12fakehijklmnopby56aaaogaopaaaabc123xyzAA",
):
    tp(tok, tok, S)
fp('anthropic_token = "sk-ant-oat01-tooShort"', S)
fp('anthropic_token = "sk-ant-ort01-tooShort"', S)
S = GL + "heroku.go"
tp(
    'const HEROKU_KEY = "63866443-cb87-446f-8bf0-80e9be787301"',
    "63866443-cb87-446f-8bf0-80e9be787301",
    S,
)
tp(
    'heroku_api_key = "832d2129-a846-4e27-99f4-7004b6ad53ef"',
    "832d2129-a846-4e27-99f4-7004b6ad53ef",
    S,
)
tp(
    'const KEY = "HRKU-AAlQ1aVoHDujJ9QsDHdHlHO0hbzhoERRSO45ZQusSYHg_____w4_hLrAym_u""',
    "HRKU-AAlQ1aVoHDujJ9QsDHdHlHO0hbzhoERRSO45ZQusSYHg_____w4_hLrAym_u",
    S,
)
tp(
    'API_Key = "HRKU-AAy9Ppr_HD2pPuTyIiTYInO0hbzhoERRSO93ZQusSYHgaD7_WQ07FnF7L9FX"',
    "HRKU-AAy9Ppr_HD2pPuTyIiTYInO0hbzhoERRSO93ZQusSYHgaD7_WQ07FnF7L9FX",
    S,
)
fp('const HEROKU_KEY = "12345678-ABCD-ABCD-ABCD-1234567890AB"', S)
S = GL + "database.go"
_DBC = string.ascii_letters + string.digits + ":;<@=},!$?^"
for name, n in (("DB_PASSWORD", 20), ("db_password", 6), ("DB_PASSWD", 10)):
    v = _r(n, _DBC)
    tp(f"{name}={v}", v, S)
v = _r(20, _DBC)
tp("pwd = " + v, v, S)
fp("DB_PASSWORD=[value]", S)
fp("somepwd=XXXXXXXXXXXXXXX", S)

OUT = Path(__file__).with_name("secrets_outside.jsonl")


def main() -> None:
    with OUT.open("w", encoding="utf-8") as f:
        for text, secret, source in ROWS:
            row = {"text": text, "secret": secret, "source": source}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(len(ROWS), "rows ->", OUT)


if __name__ == "__main__":
    main()

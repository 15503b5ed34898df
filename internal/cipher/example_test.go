package cipher_test

import (
	"context"
	"fmt"
	"log"

	"github.com/rotatord/rotatord/internal/cipher"
	"github.com/rotatord/rotatord/internal/cipher/ciphertest"
	"github.com/rotatord/rotatord/internal/credentials"
	"github.com/rotatord/rotatord/internal/secret"
)

// Encrypting Basic credentials for a gateway whose Get Gateway response has
// a 2048-bit public key.
func Example() {
	gatewayKey, err := ciphertest.GenerateKey(2048) // stands in for the gateway
	if err != nil {
		log.Fatal(err)
	}
	getGateway := fmt.Appendf(nil, `{"id":"1f69e798-5852-4fdd-ab01-33bb14b6e934","publicKey":%s}`,
		ciphertest.PublicKeyJSON(&gatewayKey.PublicKey))

	pub, err := cipher.ParsePublicKey(getGateway)
	if err != nil {
		log.Fatal(err)
	}
	plain, err := credentials.Build(credentials.Basic, credentials.Fields{
		"username": secret.FromString("svc_powerbi"),
		"password": secret.FromString("correct horse battery staple"),
	})
	if err != nil {
		log.Fatal(err)
	}
	pool := cipher.NewPool(0)
	creds, err := pool.Encrypt(context.Background(), pub, plain)
	if err != nil {
		log.Fatal(err)
	}
	back, err := ciphertest.Decrypt(gatewayKey, creds)
	if err != nil {
		log.Fatal(err)
	}
	// 344 characters of wrapped keys, then 240 of payload: 2+32+16 bytes of
	// header, tag and IV, and 128 of AES for the 121-byte JSON.
	fmt.Println(len(creds), pool.Segments())
	fmt.Println(string(back))
	// Output:
	// 584 1
	// {"credentialData":[{"name":"username","value":"svc_powerbi"},{"name":"password","value":"correct horse battery staple"}]}
}

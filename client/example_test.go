package client_test

import (
	"context"
	"fmt"
	"time"

	"github.com/minirtc/minirtc/client"
)

// A member joins, publishes, and plays every stream that appears, until the
// context ends.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := "https://rtc.example.com" // the server's HTTP(S) address
	ap, _ := client.APURL(base)
	alloc, err := client.Allocate(ctx, nil, ap, client.AllocateRequest{AppID: "APP_ID", Channel: "room", UID: "111"})
	if err != nil {
		fmt.Println(err)
		return
	}
	ws, _ := client.WSURL(base)
	c, err := client.Dial(ctx, ws, client.WithPingInterval(client.DefaultPingInterval))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if _, err := c.Join(ctx, client.JoinParams{AppID: "APP_ID", Channel: "room", UID: "111", Key: "TOKEN",
		Role: client.RoleBroadcaster, VID: alloc.VID}); err != nil {
		fmt.Println(err) // e.g. "join: refused: 401 invalid key: signature mismatch"
		return
	}
	push, err := c.Publish(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("push to", push)
	for {
		p, err := c.NextPush(ctx)
		if err != nil {
			return
		}
		if p.Action == "stream-added" {
			play, err := c.Subscribe(ctx, p.UID, client.SubscribeOptions{Audio: true, Video: true})
			if err == nil {
				fmt.Println("play", p.UID, "from", play.URL)
			}
		}
	}
}

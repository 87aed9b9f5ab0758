package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/query"
	"happychat/schemas/token"
)

// serve runs the query service alone on 127.0.0.1:0 and prints its address.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	pgURL := fs.String("pg", "", "PostgreSQL URL")
	chAddr := fs.String("ch", "", "ClickHouse address")
	_ = fs.Parse(args)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(*pgURL)
	if err != nil {
		return err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = name
	pg, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	ch, err := clickhouse.Open(&clickhouse.Options{Addr: []string{*chAddr}, Auth: clickhouse.Auth{Database: name}, MaxOpenConns: 32})
	if err != nil {
		return err
	}
	keys, err := token.New("querybench-secret-0123456789", time.Hour)
	if err != nil {
		return err
	}
	svc, err := query.New(query.Config{PG: pg, CH: ch, Keys: keys, Capacity: 20,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.ContextWithFallback = true
	svc.Register(r)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

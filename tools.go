//go:build tools

// This file pins modules that packages under construction will import, so that
// parallel work does not race on go.mod. It is removed once every one of them
// is imported by real code.
package tools

import (
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/fclairamb/ftpserverlib"
	_ "github.com/go-git/go-git/v5"
	_ "github.com/jlaffaye/ftp"
	_ "github.com/pkg/sftp"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/skeema/knownhosts"
	_ "github.com/spf13/afero"
	_ "github.com/urfave/cli/v3"
	_ "golang.org/x/crypto/ssh"
	_ "golang.org/x/crypto/ssh/agent"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/term"
)

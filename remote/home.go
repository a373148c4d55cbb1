package remote

import "os"

var userHomeDir = os.UserHomeDir

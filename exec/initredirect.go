package exec

/*
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

// SHOAL_INIT_FD is initFD. SHOAL_INIT_ENV marks a process the redirect has already
// re-executed, so that it can never loop.
#define SHOAL_INIT_FD 1000
#define SHOAL_INIT_ENV "_SHOAL_INIT_REDIRECTED=1"
#define OVERLAYFS_SUPER_MAGIC 0x794c7630
// The two forms of a sealed init, by what /proc/<pid>/fd shows of them (see keepsInit):
// the file through a read-only overlayfs of its own, or a sealed memfd (named by
// libcontainer's exeseal, followed by " (deleted)").
#define SHOAL_INIT_OVERLAY "/shoal-init"
#define SHOAL_INIT_MEMFD "/memfd:runc_cloned:shoal-init"

// shoal_redirect_init runs in every process of this binary before anything else of
// it, nsenter's constructor included (constructor priority 101 against nsenter's
// default, which runs last). In a process libcontainer started as a container's init
// (`<binary> init` with its init pipe in the environment) whose parent, the process
// starting the container, keeps a sealed container init at SHOAL_INIT_FD (see
// keepInit), it re-executes that init in its place: same pid, arguments,
// environment and descriptors, so libcontainer sees its own protocol from a smaller
// binary. Anything unexpected leaves this binary to be the init, as before.
__attribute__((constructor(101))) static void shoal_redirect_init(int argc, char **argv, char **envp)
{
	char path[64], target[128];
	struct statfs fs;
	char **env;
	ssize_t n;
	int fd, i, overlay;

	if (argc < 2 || strcmp(argv[1], "init") != 0 || getenv("_LIBCONTAINER_INITPIPE") == NULL)
		return;
	for (i = 0; envp[i] != NULL; i++)
		if (strcmp(envp[i], SHOAL_INIT_ENV) == 0)
			return;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getppid(), SHOAL_INIT_FD);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return;
	target[n] = '\0';
	overlay = strcmp(target, SHOAL_INIT_OVERLAY) == 0;
	if (!overlay && strncmp(target, SHOAL_INIT_MEMFD, sizeof(SHOAL_INIT_MEMFD) - 1) != 0)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	// Only what nothing can have changed since the parent sealed it.
	if (overlay) {
		if (fstatfs(fd, &fs) < 0 || fs.f_type != OVERLAYFS_SUPER_MAGIC || !(fs.f_flags & ST_RDONLY))
			goto out;
	} else if ((fcntl(fd, F_GET_SEALS) & (F_SEAL_WRITE | F_SEAL_SEAL)) != (F_SEAL_WRITE | F_SEAL_SEAL)) {
		goto out;
	}
	env = calloc(i + 2, sizeof(char *));
	if (env == NULL)
		goto out;
	memcpy(env, envp, i * sizeof(char *));
	env[i] = SHOAL_INIT_ENV;
	syscall(SYS_execveat, fd, "", argv, env, AT_EMPTY_PATH);
	free(env);
out:
	close(fd);
}
*/
import "C"

// initFD is the descriptor at which a process that starts containers keeps the sealed
// init binary they run (keepInit): libcontainer always starts the running binary as the
// init and takes no other, so the redirect above finds the init in its parent, at a
// number both sides know.
const initFD = 1000

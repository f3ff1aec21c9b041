/*
 * mystery001 -- chaos-lab, chapter 2 ("first cup of chaos").
 *
 * A "cache warmer" that keeps every block it ever loads: 16 MiB every 250 ms (64 MiB a second), each byte
 * written so the memory is really used, and nothing is ever freed. Watch it with `top -n1 -o+%MEM` in another
 * terminal; when it is gone, `echo $?` and `dmesg | grep -i mystery001` tell who stopped it.
 *
 * Build: gcc -O0 -o mystery001 mystery001.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK_MIB 16
#define BLOCK_BYTES ((size_t)BLOCK_MIB * 1024 * 1024)
#define PAUSE_MS 250

struct block {
    struct block *previous; /* every block stays reachable: nothing is freed, nothing is "leaked" */
    unsigned char data[];
};

int main(void)
{
    struct block *newest = NULL;
    unsigned long blocks = 0;
    const struct timespec pause = {0, PAUSE_MS * 1000L * 1000L};

    printf("Warming the cache, %d MiB every %d ms...\n", BLOCK_MIB, PAUSE_MS);
    fflush(stdout);
    for (;;) {
        struct block *b = malloc(sizeof(struct block) + BLOCK_BYTES);
        if (b == NULL) {
            printf("malloc failed after %lu MiB\n", blocks * BLOCK_MIB);
            return 1;
        }
        memset(b->data, (int)(blocks % 251) + 1, BLOCK_BYTES);
        b->previous = newest;
        newest = b;
        blocks++;
        printf("cache size: %lu MiB\n", blocks * BLOCK_MIB);
        fflush(stdout);
        nanosleep(&pause, NULL);
    }
}

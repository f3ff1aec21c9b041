/*
 * mystery000 -- chaos-lab, chapter 2 ("first cup of chaos").
 *
 * Works out how many cups of coffee each on-call engineer gets from the team's weekly coffee budget.
 * Run it and find out why it never prints the answer (hint: `echo $?` right after it dies).
 *
 * Build: gcc -O0 -o mystery000 mystery000.c
 */
#include <signal.h>
#include <stdio.h>

#define DAYS 7

static const char *day_names[DAYS] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const int cups_per_day[DAYS] = {42, 37, 51, 45, 39, 12, 9};
/* Who is on call each day; 0 = nobody scheduled yet. */
static const int on_call_per_day[DAYS] = {0, 0, 0, 0, 0, 0, 0};

int main(int argc, char **argv)
{
    (void)argv;
    int total_cups = 0;
    /* volatile: the compiler must really read it, so the division below really happens at run time. */
    volatile int engineers = argc - 1;

    printf("Counting this week's coffee...\n");
    for (int day = 0; day < DAYS; day++) {
        total_cups += cups_per_day[day];
        engineers += on_call_per_day[day];
        printf("  %s: %2d cups\n", day_names[day], cups_per_day[day]);
    }
    printf("Total: %d cups. Sharing them among the on-call engineers...\n", total_cups);
    fflush(stdout);

    int cups_each = total_cups / engineers;

    /* Integer division by zero traps on x86 (SIGFPE) but quietly gives 0 on some CPUs (arm64): behave the same
     * everywhere, the way x86 does. */
    if (engineers == 0) {
        raise(SIGFPE);
    }

    printf("Each engineer gets %d cups.\n", cups_each);
    return 0;
}

#include "cli/cli.h"

int main(int argc, char** argv) { return berth::RunCli(argc, argv); }

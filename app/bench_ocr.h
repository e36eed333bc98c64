#pragma once
int runOcrBench(int argc, char **argv);

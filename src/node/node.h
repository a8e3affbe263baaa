/*
 * The node runtime (`rangekv start`): runs until SIGTERM/SIGINT and returns
 * the process exit status (0 on a clean stop, 1 with an error logged).
 */
#ifndef RK_NODE_H
#define RK_NODE_H

#include "config.h"

int rk_node_run(const struct rk_node_config *cfg);

#endif
